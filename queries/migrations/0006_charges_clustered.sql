-- 0006_charges_clustered: the payable and receivable lines are stored in
-- their canonical read order. Each table becomes a WITHOUT ROWID table whose
-- primary key is the leading part of its ORDER BY (the key columns that are
-- never NULL) plus line_no, which keeps the key unique; the separate order
-- indexes (payable_charges_order, receivable_charges_order) are dropped.
--
-- Why: the order index repeated every key column and the content hash of each
-- line (≈ 200 bytes a line), and a read in canonical order walked the index and
-- looked each row up in a table stored in API order (one random page access a
-- line). Now a run's lines are one contiguous range of the table, read in
-- order; only lines equal up to charge_id are sorted further (sub_total,
-- quantity / cost_price_prorated, quantity, content_hash: the same ORDER BY as
-- before, so the same order, the same digests, the same reports).
--
-- The columns, their meaning and their values are unchanged (see 0001_init);
-- existing lines are copied as they are.

CREATE TABLE payable_charges_0006 (
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    line_no      INTEGER NOT NULL, -- position in the API stream (audit; unique in a run)
    customer_key TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    charge_type  TEXT    NOT NULL,
    period_from  TEXT    NOT NULL,
    period_to    TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    charge_id    TEXT    NOT NULL,
    sub_total    TEXT,
    quantity     TEXT,
    detail       TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    PRIMARY KEY (run_id, customer_key, sku, charge_type, period_from, period_to, currency, charge_id, line_no)
) WITHOUT ROWID;

INSERT INTO payable_charges_0006 (
    run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, detail, content_hash
)
SELECT run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
       charge_id, sub_total, quantity, detail, content_hash
FROM payable_charges
ORDER BY run_id, customer_key, sku, charge_type, period_from, period_to, currency, charge_id, line_no;

DROP TABLE payable_charges; -- and its index payable_charges_order
ALTER TABLE payable_charges_0006 RENAME TO payable_charges;

CREATE TABLE receivable_charges_0006 (
    run_id              INTEGER NOT NULL,
    customer_id         TEXT    NOT NULL,
    line_no             INTEGER NOT NULL, -- position in the customer's response (unique per customer)
    sku                 TEXT    NOT NULL,
    charge_id           TEXT    NOT NULL,
    charge_type         TEXT    NOT NULL,
    period_from         TEXT    NOT NULL,
    period_to           TEXT    NOT NULL,
    quantity            TEXT,
    cost_price          TEXT,
    cost_price_prorated TEXT,
    currency            TEXT    NOT NULL,
    detail              TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    PRIMARY KEY (run_id, customer_id, sku, charge_type, period_from, period_to, currency, charge_id, line_no),
    FOREIGN KEY (run_id, customer_id) REFERENCES customer_coverage (run_id, customer_id)
) WITHOUT ROWID;

INSERT INTO receivable_charges_0006 (
    run_id, customer_id, line_no, sku, charge_id, charge_type, period_from, period_to,
    quantity, cost_price, cost_price_prorated, currency, detail, content_hash
)
SELECT run_id, customer_id, line_no, sku, charge_id, charge_type, period_from, period_to,
       quantity, cost_price, cost_price_prorated, currency, detail, content_hash
FROM receivable_charges
ORDER BY run_id, customer_id, sku, charge_type, period_from, period_to, currency, charge_id, line_no;

DROP TABLE receivable_charges; -- and its index receivable_charges_order
ALTER TABLE receivable_charges_0006 RENAME TO receivable_charges;
