-- 0012_coverage_ref_lookup (SQLite; see postgres/0012_coverage_ref_lookup.sql).
-- On PostgreSQL the statement trigger that checks the receivable lines' and
-- subscriptions' coverage rows looks each customer up by the primary key
-- instead of scanning every coverage row of the ledger. SQLite keeps its
-- foreign keys: this migration changes nothing here; it exists so both
-- dialects share one list of migrations.
SELECT 1;
