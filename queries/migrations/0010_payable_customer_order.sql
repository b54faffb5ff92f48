-- 0010_payable_customer_order: a run's payable lines are stored customer by
-- customer in the order the customers first appear in the API stream, not in
-- the order of their customer keys. A new table, payable_customers, numbers
-- each run's customer keys (customer_ord: 1 for the first key the stream
-- sent, 2 for the next new one, ...); payable_charges gains that number
-- (customer_ord) and its primary key starts with it instead of the key:
-- (run_id, customer_ord, sku, charge_type, period_from, period_to, currency,
-- charge_id, line_no).
--
-- Why: the API sends a customer's lines together, but not the customers in
-- key order. Keyed by customer_key (0006), each customer's lines went to a
-- random place in a half-gigabyte B-tree, through a page cache of 4 MiB: at
-- W1M the payable batch wrote ≈ 2.7 GB and read ≈ 3.5 GB for a 0.5 GB table
-- (BENCHMARKS.md, "Round ten"). Keyed by the order of first appearance, each
-- customer's lines are appended after the previous customer's.
--
-- Reads in canonical order (each_payable) walk payable_customers in key order
-- and, for each key, the customer's contiguous range of payable_charges: the
-- same rows in the same order as before, with no sort. customer_key stays in
-- payable_charges (PostgreSQL orders by it); a foreign key on (run_id,
-- customer_ord, customer_key) keeps the line's number and key those of one
-- row of payable_customers, so a read in that order finds every line, each
-- under its own key.
--
-- Existing runs are numbered in key order (their lines were already stored
-- that way); their rows are copied as they are.

CREATE TABLE payable_customers (
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    customer_key TEXT    NOT NULL, -- as payable_charges.customer_key
    customer_ord INTEGER NOT NULL, -- 1, 2, ... in order of first appearance in the stream
    PRIMARY KEY (run_id, customer_key),
    UNIQUE (run_id, customer_ord),
    UNIQUE (run_id, customer_ord, customer_key) -- what payable_charges refers to
) WITHOUT ROWID;

INSERT INTO payable_customers (run_id, customer_key, customer_ord)
SELECT run_id, customer_key, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY customer_key)
FROM (SELECT DISTINCT run_id, customer_key FROM payable_charges)
ORDER BY run_id, customer_key;

CREATE TABLE payable_charges_0010 (
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
    customer_ord INTEGER NOT NULL, -- payable_customers.customer_ord of customer_key
    PRIMARY KEY (run_id, customer_ord, sku, charge_type, period_from, period_to, currency, charge_id, line_no),
    FOREIGN KEY (run_id, customer_ord, customer_key) REFERENCES payable_customers (run_id, customer_ord, customer_key)
) WITHOUT ROWID;

INSERT INTO payable_charges_0010 (
    run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, detail, content_hash, customer_ord
)
SELECT p.run_id, p.line_no, p.customer_key, p.sku, p.charge_type, p.period_from, p.period_to, p.currency,
       p.charge_id, p.sub_total, p.quantity, p.detail, p.content_hash, k.customer_ord
FROM payable_charges p
JOIN payable_customers k ON k.run_id = p.run_id AND k.customer_key = p.customer_key
ORDER BY p.run_id, k.customer_ord, p.sku, p.charge_type, p.period_from, p.period_to, p.currency, p.charge_id, p.line_no;

DROP TABLE payable_charges;
ALTER TABLE payable_charges_0010 RENAME TO payable_charges;
