-- 0002_run_summaries (PostgreSQL; see ../0002_run_summaries.sql): a small summary of each reported run, so that
-- `reconcile runs` shows findings and totals without reconciling every run
-- again. Written when a report of the run is produced (run, report, or runs
-- itself for a complete run that has none yet); derived data: deleting a row
-- loses nothing, it is computed again.
CREATE TABLE run_summaries (
    run_id      BIGINT  PRIMARY KEY REFERENCES runs (id),
    tolerance   TEXT COLLATE "C"    NOT NULL, -- the --tolerance the findings were computed with
    findings    BIGINT  NOT NULL,
    totals      TEXT COLLATE "C"    NOT NULL, -- JSON array of {"currency","payable","receivable","margin"}, exact decimal texts
    computed_at TEXT COLLATE "C"    NOT NULL
);
