-- 0007_reference_triggers (SQLite; see postgres/0007_reference_triggers.sql).
-- On PostgreSQL the references of the charge tables (payable_charges -> runs,
-- receivable_charges and subscriptions -> customer_coverage) are checked once
-- per statement by triggers instead of once per row by foreign keys, for the
-- speed of the bulk COPY. SQLite keeps its foreign keys (checked per row as
-- the row is written, which costs it little): this migration changes nothing
-- here; it exists so both dialects share one list of migrations.
SELECT 1;
