-- Deliveries of a run's report (reconcile email, reconcile run --email): one
-- row per attempt to deliver, inserted as 'sending' before the first SMTP
-- connection and finished as 'delivered' or 'failed'. A row left 'sending'
-- means the process died mid-delivery: the message may or may not have gone
-- out, and it does not count as delivered (a retry sends it again).
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    channel      TEXT    NOT NULL,              -- 'email'
    recipients   TEXT    NOT NULL,              -- JSON array of addresses (to, cc and bcc)
    subject      TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    attachments  TEXT    NOT NULL,              -- JSON array of {name, bytes, sha256}
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,
    outcome      TEXT    NOT NULL,              -- 'sending' | 'delivered' | 'failed'
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX deliveries_by_run ON deliveries (run_id, outcome);
