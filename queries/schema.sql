-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
);

-- name: applied_migrations
SELECT name FROM schema_migrations ORDER BY name;

-- name: record_migration
INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?);

-- name: probe_write
-- A real write, always rolled back: CheckWritable uses it to prove the file can be written.
INSERT INTO schema_migrations (name, applied_at) VALUES ('~write-probe', '');

-- name: sync_full
-- SQLite only: fsync the WAL on every commit (used for the run's final status).
PRAGMA synchronous = FULL;

-- name: sync_normal
-- SQLite only: back to the default of this ledger (see Open).
PRAGMA synchronous = NORMAL;

-- name: begin_write
-- SQLite only: a write transaction that takes the write lock at once (the payable batch's
-- dedicated connection; other write transactions get it from the _txlock=immediate DSN option).
BEGIN IMMEDIATE;

-- name: bulk_checkpoint
-- SQLite only: the customers' group transactions (thousands of rows each, in
-- key order within a customer but not across customers) let the WAL grow to
-- 16384 pages (256 MiB with the ledger's 16 KiB pages; 64 MiB when this was set, with
-- 4 KiB pages) before a commit copies it into the database file, instead of SQLite's
-- 1000: a page rewritten by several groups is copied once, and the commits
-- checkpoint 16x less often. A setting of the connection, not of the ledger;
-- crash safety is the WAL's, unchanged.
PRAGMA wal_autocheckpoint = 16384;

-- name: bulk_references
-- SQLite only: the payable batch and the customer writer insert millions of
-- rows whose references they make themselves (a line's run, its customer
-- key's number, a customer's coverage row, all inserted by the same
-- transaction or before it), so SQLite's check of every foreign key on every
-- row (a cursor opened and a parent key looked up per reference and row:
-- ≈ 0.6–0.8 µs of the one writer's CPU per row in the Go benchmarks, about
-- 2 CPU-s of a W1M close by estimate; BENCHMARKS.md, round sixteen) is switched off for their transactions
-- on their own connections, and back on (row_references) before a
-- connection goes back to the pool. Every other write, and every delete of a
-- parent, is still checked row by row. ForeignKeyCheck verifies a whole
-- ledger (the tests run it on every ledger they write). PostgreSQL checks
-- these references once per statement (migration 0007).
PRAGMA foreign_keys = OFF;

-- name: row_references
-- SQLite only: back to the ledger's default (see bulk_references).
PRAGMA foreign_keys = ON;

-- name: foreign_key_check
-- SQLite only: every row whose parent row is missing (table, rowid, parent,
-- constraint). The table-valued form: the PRAGMA statement, as the first
-- statement of a new connection, found nothing (SQLite 3.x via go-sqlite3;
-- TestForeignKeyCheckFindsOrphans).
SELECT "table", rowid, parent, fkid FROM pragma_foreign_key_check();

-- name: checkpoint_ahead
-- SQLite only: after a run's final commit, copy what the WAL holds into the
-- database file on a connection of its own while the reports are written
-- (Store.checkpointAhead); PASSIVE waits for no reader or writer.
PRAGMA wal_checkpoint(PASSIVE);

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;

-- name: migration_lock
-- Held while migrating (PostgreSQL: an advisory lock, see postgres/postgres.sql);
-- SQLite needs none: each migration's BEGIN IMMEDIATE serialises the writers.
SELECT 1;

-- name: migration_unlock
SELECT 1;
