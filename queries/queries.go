// Package queries holds the SQL used by the ledger, embedded at build time.
//
// Files at the top level hold named statements, each introduced by a line
// "-- name: statement_name"; internal/ledger loads them once at Open. Files in
// migrations/ are numbered schema migrations ("0001_init.sql", ...), applied in
// lexical order, each in its own transaction.
//
// Dialects. The SQL is kept portable (plain CREATE TABLE, "?" placeholders
// rebound by sqlx to $1.. for PostgreSQL, no INSERT OR REPLACE, no STRICT);
// where a dialect needs other SQL, it lives in a folder of that dialect:
//
//   - postgres/*.sql: named statements that replace, on PostgreSQL, the shared
//     statement of the same name (PRAGMAs, the canonical read order of NUMERIC
//     money, catalogue queries). A name there must exist in the shared files.
//   - migrations/*.sql are the SQLite migrations and the list of migrations;
//     migrations/postgres/*.sql holds the PostgreSQL version of each, under
//     the same file name (NUMERIC money, TEXT COLLATE "C", identity ids).
//     A new table is one more file in each folder; the ledger refuses to open
//     a PostgreSQL ledger when a migration has no PostgreSQL version.
package queries

import "embed"

// FS holds the named statements (*.sql, postgres/*.sql) and the migrations
// (migrations/*.sql, migrations/postgres/*.sql).
//
//go:embed *.sql postgres/*.sql migrations/*.sql migrations/postgres/*.sql
var FS embed.FS
