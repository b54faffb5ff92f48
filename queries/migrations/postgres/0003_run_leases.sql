-- 0003_run_leases (PostgreSQL; see ../0003_run_leases.sql).
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'complete', 'partial', 'failed', 'abandoned'));
ALTER TABLE runs ADD COLUMN holder TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN lease_until TEXT COLLATE "C";

CREATE TABLE period_locks (
    period      TEXT COLLATE "C" PRIMARY KEY,
    holder      TEXT COLLATE "C" NOT NULL,
    acquired_at TEXT COLLATE "C" NOT NULL,
    lease_until TEXT COLLATE "C" NOT NULL
);
