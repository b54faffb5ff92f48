-- 0003_run_leases: teams. A running run holds a heartbeat lease (holder,
-- lease_until, renewed while it runs); the next run marks a running run whose
-- lease expired 'abandoned' (its process died: killed, power loss). A close
-- holds a lock on its period (period_locks, with the same kind of lease) so
-- that two closes of one period at the same moment queue instead of
-- interleaving.
--
-- SQLite cannot change a CHECK constraint in place: the runs table is rebuilt
-- with its rows, in this migration's transaction. Foreign keys are deferred
-- to the commit: dropping the old table orphans the child rows for a moment,
-- re-inserting the same ids adopts them again.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE runs_before_0003 AS SELECT * FROM runs;
DROP TABLE runs;

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    requested_date TEXT    NOT NULL,
    period_from    TEXT,             -- NULL until the payable charges are committed
    period_to      TEXT,
    status         TEXT    NOT NULL CHECK (status IN ('running', 'complete', 'partial', 'failed', 'abandoned')),
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,             -- NULL while running
    base_url       TEXT    NOT NULL,
    tool_version   TEXT    NOT NULL,
    calls          INTEGER NOT NULL DEFAULT 0,
    retries        INTEGER NOT NULL DEFAULT 0,
    token_requests INTEGER NOT NULL DEFAULT 0,
    settings       TEXT    NOT NULL, -- JSON object
    error          TEXT    NOT NULL DEFAULT '',
    holder         TEXT    NOT NULL DEFAULT '', -- who runs it: "host pid N #nonce" ('' before 0003)
    lease_until    TEXT              -- the running run's heartbeat lease; NULL before 0003
);

INSERT INTO runs (id, requested_date, period_from, period_to, status, started_at, finished_at, base_url, tool_version, calls, retries, token_requests, settings, error)
SELECT id, requested_date, period_from, period_to, status, started_at, finished_at, base_url, tool_version, calls, retries, token_requests, settings, error FROM runs_before_0003;
DROP TABLE runs_before_0003;

CREATE INDEX runs_status_period ON runs (status, period_from, period_to);

CREATE TABLE period_locks (
    period      TEXT PRIMARY KEY, -- 'yyyy-MM' of the requested date
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    lease_until TEXT NOT NULL     -- renewed while held; an expired lock may be taken over
);
