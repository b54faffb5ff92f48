-- name: insert_run
INSERT INTO runs (requested_date, status, started_at, base_url, tool_version, settings, error, holder, lease_until)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id;

-- name: renew_run_lease
UPDATE runs SET lease_until = ? WHERE id = ? AND status = 'running' AND holder = ?;

-- name: abandon_expired_runs
-- Running runs whose lease expired (their process died); a run from before
-- 0003 (no lease) counts from its start.
UPDATE runs
SET status = 'abandoned', finished_at = ?,
    error = 'abandoned: its process stopped renewing its lease (' || holder || ', last lease until ' || COALESCE(lease_until, started_at) || ')'
WHERE status = 'running' AND COALESCE(lease_until, started_at) < ?;

-- name: acquire_period_lock
-- Takes the period's lock if it is free, expired, or already ours.
INSERT INTO period_locks (period, holder, acquired_at, lease_until) VALUES (?, ?, ?, ?)
ON CONFLICT (period) DO UPDATE SET
    holder = excluded.holder, acquired_at = excluded.acquired_at, lease_until = excluded.lease_until
WHERE period_locks.lease_until < ? OR period_locks.holder = excluded.holder;

-- name: get_period_lock
SELECT holder, acquired_at, lease_until FROM period_locks WHERE period = ?;

-- name: renew_period_lock
UPDATE period_locks SET lease_until = ? WHERE period = ? AND holder = ?;

-- name: release_period_lock
DELETE FROM period_locks WHERE period = ? AND holder = ?;

-- name: finish_run
UPDATE runs
SET status = ?, calls = ?, retries = ?, token_requests = ?, error = ?, finished_at = ?
WHERE id = ? AND status = 'running';

-- name: set_run_period
UPDATE runs SET period_from = ?, period_to = ?, lease_until = ? WHERE id = ? AND status = 'running';

-- name: get_run
SELECT id, requested_date, period_from, period_to, status, started_at, finished_at,
       base_url, tool_version, calls, retries, token_requests, settings, error
FROM runs
WHERE id = ?;

-- name: list_runs
SELECT id, requested_date, period_from, period_to, status, started_at, finished_at,
       base_url, tool_version, calls, retries, token_requests, settings, error
FROM runs
ORDER BY id DESC;

-- name: find_run
-- The latest run with the given status whose period contains the date.
SELECT id, requested_date, period_from, period_to, status, started_at, finished_at,
       base_url, tool_version, calls, retries, token_requests, settings, error
FROM runs
WHERE status = ? AND period_from <= ? AND period_to >= ?
ORDER BY id DESC
LIMIT 1;

-- name: set_run_settings
-- A running run's settings, completed once known (the customers a retry reused).
UPDATE runs SET settings = ? WHERE id = ? AND status = 'running';

-- name: put_run_summary
-- The run's summary, (re)written when a report of it is produced.
INSERT INTO run_summaries (run_id, tolerance, findings, totals, computed_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (run_id) DO UPDATE SET
    tolerance = excluded.tolerance, findings = excluded.findings,
    totals = excluded.totals, computed_at = excluded.computed_at;

-- name: list_run_summaries
SELECT run_id, tolerance, findings, totals FROM run_summaries;

-- name: ledger_size
-- SQLite-only: the database file's size in bytes (pages in use and free).
SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size();

-- name: vacuum
-- SQLite-only.
VACUUM;

-- name: column_exists
-- SQLite-only: whether a table has a column of the given name.
SELECT count(*) FROM pragma_table_info(?) WHERE name = ?;

-- name: delete_run_subscriptions
DELETE FROM subscriptions WHERE run_id = ?;

-- name: delete_run_receivables
DELETE FROM receivable_charges WHERE run_id = ?;

-- name: delete_run_coverage
DELETE FROM customer_coverage WHERE run_id = ?;

-- name: delete_run_customers
DELETE FROM customers WHERE run_id = ?;

-- name: delete_run_payables
DELETE FROM payable_charges WHERE run_id = ?;

-- name: delete_run_payable_customers
-- After delete_run_payables (the lines refer to these rows).
DELETE FROM payable_customers WHERE run_id = ?;

-- name: delete_run_summary
DELETE FROM run_summaries WHERE run_id = ?;

-- name: delete_run
DELETE FROM runs WHERE id = ?;

-- name: count_runs
SELECT COUNT(*) FROM runs;

-- name: reset_run_ids
-- After `ledger copy` inserted runs with their ids: the next run id follows
-- them (SQLite: INTEGER PRIMARY KEY takes max(id)+1 by itself).
SELECT 1;

-- name: running_run_holders
SELECT id, holder FROM runs WHERE status = 'running';

-- name: abandon_run
-- A running run whose process is known to be gone (same host, no such pid).
UPDATE runs
SET status = 'abandoned', finished_at = ?,
    error = 'abandoned: its process (' || holder || ') is gone'
WHERE id = ? AND status = 'running' AND holder = ?;
