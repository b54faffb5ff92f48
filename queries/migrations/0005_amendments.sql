-- 0005_amendments: the append-only log of subscription amendments (the only
-- writes the tool ever makes to Sherweb; see docs/subscriptions-and-amendments.md).
--
-- One row per event of one plan entry (plan_hash, subscription_id), in the
-- order it happened (seq). Rows are never updated or deleted (the triggers
-- refuse it): the state of an entry is its latest event.
--   intent     recorded, durably, before the POST; detail = the request body
--   submitted  the POST answered; amendment_id set
--   unknown    the POST was sent but its outcome is unknown; detail = why
--   rejected   the API refused the POST (4xx): nothing applied
--   refused    a guard refused the entry before any POST (stale, minimum, ...)
--   status     a status seen while polling (status set)
--   outcome    the final outcome (status = Success, Failure, Canceled,
--              PartialSuccess, or applied/not_applied when decided by
--              re-reading the subscription)
CREATE TABLE amendment_log (
    seq              INTEGER PRIMARY KEY,
    at               TEXT    NOT NULL, -- RFC 3339 UTC
    actor            TEXT    NOT NULL, -- who ran the command
    plan_hash        TEXT    NOT NULL,
    run_id           INTEGER NOT NULL, -- the fetch run the plan came from
    period_from      TEXT    NOT NULL,
    period_to        TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    subscription_id  TEXT    NOT NULL,
    sku              TEXT    NOT NULL,
    product          TEXT    NOT NULL,
    current_quantity INTEGER NOT NULL,
    new_quantity     INTEGER NOT NULL,
    event            TEXT    NOT NULL CHECK (event IN ('intent', 'submitted', 'unknown', 'rejected', 'refused', 'status', 'outcome')),
    amendment_id     TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    detail           TEXT    NOT NULL
);

CREATE INDEX amendment_log_subscription ON amendment_log (subscription_id, seq);
CREATE INDEX amendment_log_period ON amendment_log (period_from, seq);

CREATE TRIGGER amendment_log_no_update BEFORE UPDATE ON amendment_log
BEGIN
    SELECT RAISE(ABORT, 'amendment_log is append-only');
END;

CREATE TRIGGER amendment_log_no_delete BEFORE DELETE ON amendment_log
BEGIN
    SELECT RAISE(ABORT, 'amendment_log is append-only');
END;
