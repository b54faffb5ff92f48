// Package queries holds the SQL used by the ledger, embedded at build time.
//
// Files at the top level hold named statements, each introduced by a line
// "-- name: statement_name"; internal/ledger loads them once at Open. Files in
// migrations/ are numbered schema migrations ("0001_init.sql", ...), applied in
// lexical order, each in its own transaction.
//
// The SQL is kept portable (plain CREATE TABLE with TEXT and INTEGER columns, "?"
// placeholders rebound by sqlx, no INSERT OR REPLACE, no STRICT) so that a
// PostgreSQL backend can follow; the few SQLite-only statements (PRAGMA) are
// marked as such.
package queries

import "embed"

// FS holds the named statements (*.sql) and the migrations (migrations/*.sql).
//
//go:embed *.sql migrations/*.sql
var FS embed.FS
