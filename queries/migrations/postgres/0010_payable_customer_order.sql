-- 0010_payable_customer_order (PostgreSQL; see ../0010_payable_customer_order.sql).
-- The same tables and columns as on SQLite, so that `ledger copy` moves them
-- either way: payable_customers numbers each run's customer keys in order of
-- first appearance in the stream, and payable_charges.customer_ord holds that
-- number. PostgreSQL has no clustered tables: its reads still order by
-- payable_charges.customer_key (each_payable), so customer_ord is stored but
-- not used for the order, and it is not checked against payable_customers by
-- a reference (SQLite checks it: there the order depends on it). The batch
-- writes the run's payable_customers rows in its transaction, after its lines.
--
-- Existing runs are numbered in key order, as on SQLite.

CREATE TABLE payable_customers (
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    customer_key TEXT COLLATE "C" NOT NULL,
    customer_ord BIGINT NOT NULL,
    PRIMARY KEY (run_id, customer_key),
    UNIQUE (run_id, customer_ord)
);

INSERT INTO payable_customers (run_id, customer_key, customer_ord)
SELECT run_id, customer_key, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY customer_key)
FROM (SELECT DISTINCT run_id, customer_key FROM payable_charges) k;

ALTER TABLE payable_charges ADD COLUMN customer_ord BIGINT;

UPDATE payable_charges p SET customer_ord = k.customer_ord
FROM payable_customers k
WHERE k.run_id = p.run_id AND k.customer_key = p.customer_key;

ALTER TABLE payable_charges ALTER COLUMN customer_ord SET NOT NULL;
