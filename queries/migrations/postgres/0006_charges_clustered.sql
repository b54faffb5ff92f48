-- 0006_charges_clustered (PostgreSQL; see ../0006_charges_clustered.sql).
-- SQLite stores the charge lines in their canonical order (WITHOUT ROWID
-- tables keyed by the order columns) and drops the order indexes. PostgreSQL
-- has no clustered tables that stay clustered: it keeps its layout of 0001
-- (heap tables, an index on run_id, a sort at read time), so this migration
-- changes nothing here; it exists so both dialects share one list of
-- migrations.
SELECT 1;
