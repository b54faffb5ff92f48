-- name: insert_run
INSERT INTO runs (requested_date, status, started_at, base_url, tool_version, settings, error)
VALUES (?, ?, ?, ?, ?, ?, ?)
RETURNING id;

-- name: finish_run
UPDATE runs
SET status = ?, calls = ?, retries = ?, token_requests = ?, error = ?, finished_at = ?
WHERE id = ? AND status = 'running';

-- name: set_run_period
UPDATE runs SET period_from = ?, period_to = ? WHERE id = ? AND status = 'running';

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
