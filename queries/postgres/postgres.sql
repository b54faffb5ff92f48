-- PostgreSQL versions of the named statements that differ from the shared ones
-- (queries/*.sql). A statement here replaces the shared statement of the same
-- name when the ledger is on PostgreSQL; every name here must exist in the
-- shared files. Everything else is shared and written portably ("?"
-- placeholders, rebound to $1.. by sqlx).

-- name: sync_full
-- The run's final status: committed with synchronous_commit on, whatever the
-- server's default (durable before FinishRun returns).
SET synchronous_commit TO on;

-- name: sync_normal
RESET synchronous_commit;

-- name: bulk_checkpoint
-- PostgreSQL checkpoints on its own (see ../schema.sql).
SELECT 1;

-- name: bulk_references
-- PostgreSQL checks the bulk writers' references once per statement (0007);
-- the store never runs this there.
SELECT 1;

-- name: row_references
-- See bulk_references.
SELECT 1;

-- name: insert_coverage_listed
-- SQLite only: PostgreSQL's customer writer keeps its foreign keys (coverage
-- rows are COPYed and checked by customer_coverage's foreign key).
SELECT 1;

-- name: copy_coverage_listed
-- SQLite only (see insert_coverage_listed): copy_coverage is used here.
SELECT 1;

-- name: foreign_key_check
-- PostgreSQL enforces every reference (foreign keys, 0007's triggers): nothing to find.
SELECT NULL, NULL, NULL, NULL WHERE false;

-- name: checkpoint_ahead
-- PostgreSQL checkpoints on its own (the store never runs this there).
SELECT 1;

-- name: begin_write
-- The payable batch and customer writer transactions: their rows are keyed by
-- their own run, so READ COMMITTED (the default) is enough; the run row they
-- update is guarded by status = 'running'.
BEGIN;

-- name: ledger_size
SELECT pg_database_size(current_database());

-- name: vacuum
VACUUM;

-- name: column_exists
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?;

-- name: each_payable
-- The canonical order of SQLite (see queries/charges.sql): text columns are
-- COLLATE "C" in the schema (byte order, like SQLite's BINARY); the NUMERIC
-- money columns are ordered as their exact text, in byte order, NULL first,
-- as SQLite orders the TEXT it stores. Money is read as text (scale kept). The
-- customer key and content hash are read too: the reader orders the lines
-- equal up to charge_id itself (ties.go; here they arrive in order already).
SELECT sku, charge_type, period_from, period_to, currency, charge_id,
       sub_total::text AS sub_total, quantity::text AS quantity, detail, customer_key, content_hash
FROM payable_charges
WHERE run_id = ?
ORDER BY run_id, customer_key, sku, charge_type, period_from, period_to, currency,
         charge_id, sub_total::text COLLATE "C" NULLS FIRST, quantity::text COLLATE "C" NULLS FIRST,
         content_hash;

-- name: each_receivable_available
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity::text AS quantity, r.cost_price::text AS cost_price,
       r.cost_price_prorated::text AS cost_price_prorated, r.currency, r.detail, r.content_hash
FROM receivable_charges r
JOIN customer_coverage c ON c.run_id = r.run_id AND c.customer_id = r.customer_id
WHERE r.run_id = ? AND c.coverage = 'available'
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.cost_price_prorated::text COLLATE "C" NULLS FIRST,
         r.quantity::text COLLATE "C" NULLS FIRST, r.content_hash;

-- name: each_receivable_all
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity::text AS quantity, r.cost_price::text AS cost_price,
       r.cost_price_prorated::text AS cost_price_prorated, r.currency, r.detail, r.content_hash
FROM receivable_charges r
WHERE r.run_id = ?
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.cost_price_prorated::text COLLATE "C" NULLS FIRST,
         r.quantity::text COLLATE "C" NULLS FIRST, r.content_hash;

-- name: list_subscriptions
SELECT id, product_name, description, sku, quantity::text AS quantity, billing_cycle, purchase_date,
       fees, commitment_term
FROM subscriptions
WHERE run_id = ? AND customer_id = ?
ORDER BY run_id, customer_id, id, content_hash;

-- name: each_subscription
SELECT customer_id, id, product_name, description, sku, quantity::text AS quantity, billing_cycle,
       purchase_date, fees, commitment_term
FROM subscriptions
WHERE run_id = ?
ORDER BY run_id, customer_id, id, content_hash;

-- name: migration_lock
-- Two processes opening a new ledger at once: one migrates, the other waits.
-- (The key is arbitrary but fixed: 'reconcile' as an integer.)
SELECT pg_advisory_lock(7233174368502130789);

-- name: migration_unlock
SELECT pg_advisory_unlock(7233174368502130789);

-- name: reset_run_ids
SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM runs), false),
       setval(pg_get_serial_sequence('exceptions', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM exceptions), false),
       setval(pg_get_serial_sequence('deliveries', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM deliveries), false),
       setval(pg_get_serial_sequence('amendment_log', 'seq'), (SELECT COALESCE(max(seq), 0) + 1 FROM amendment_log), false);
