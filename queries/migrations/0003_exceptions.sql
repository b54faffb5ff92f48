-- 0002_exceptions: the exceptions register (workflow-rules.md, "Exceptions
-- register"). Append-only: an acceptance is one 'accept' row; `reconcile
-- unaccept` appends a 'revoke' row naming it (revokes). Nothing is updated or
-- deleted. Amounts are exact decimal TEXT (billing.Text), never REAL.
--   fingerprint  the finding's fingerprint (comparison-rules.md)
--   amount       the fingerprint group's Σ(receivable − payable) in run_id at acceptance
--   band         |amount now − amount| ≤ band keeps the acceptance
--   until_period last billing period covered, 'YYYY-MM'; NULL = open-ended
--   run_id       the run whose finding was accepted: a run referenced here
--                must be kept (runs prune)
CREATE TABLE exceptions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    action       TEXT    NOT NULL CHECK (action IN ('accept', 'revoke')),
    fingerprint  TEXT    NOT NULL,
    revokes      INTEGER REFERENCES exceptions (id),
    reason       TEXT    NOT NULL,
    by_name      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    amount       TEXT,
    currency     TEXT,
    band         TEXT,
    until_period TEXT,
    run_id       INTEGER REFERENCES runs (id),
    kind         TEXT    NOT NULL DEFAULT '',
    customer_id  TEXT    NOT NULL DEFAULT '',
    sku          TEXT    NOT NULL DEFAULT '',
    CHECK ((action = 'accept' AND amount IS NOT NULL AND band IS NOT NULL AND run_id IS NOT NULL AND revokes IS NULL)
        OR (action = 'revoke' AND revokes IS NOT NULL))
);

CREATE INDEX exceptions_fingerprint ON exceptions (fingerprint);
CREATE INDEX exceptions_run ON exceptions (run_id);
