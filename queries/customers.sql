-- name: insert_customer
INSERT INTO customers (run_id, id, display_name, path, suspended_on) VALUES (?, ?, ?, ?, ?);

-- name: list_customers
SELECT id, display_name, path, suspended_on FROM customers WHERE run_id = ? ORDER BY id;

-- name: insert_coverage
INSERT INTO customer_coverage (run_id, customer_id, coverage, error, period_from, period_to, subscriptions_error)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: insert_coverage_listed
-- SQLite's insert_coverage in the customer writer's transactions, which skip
-- the row-by-row reference checks (bulk_references in schema.sql): the row is
-- stored only if the customer is in the run's list (the foreign key to
-- customers, checked here); no row inserted means it is not.
INSERT INTO customer_coverage (run_id, customer_id, coverage, error, period_from, period_to, subscriptions_error)
SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7
FROM (VALUES (?, ?, ?, ?, ?, ?, ?)) AS v
WHERE EXISTS (SELECT 1 FROM customers k WHERE k.run_id = v.column1 AND k.id = v.column2);

-- name: list_coverage
SELECT customer_id, coverage, error, period_from, period_to, subscriptions_error
FROM customer_coverage
WHERE run_id = ?
ORDER BY customer_id;

-- name: insert_subscription
INSERT INTO subscriptions (
    run_id, customer_id, line_no, id, product_name, description, sku, quantity, billing_cycle,
    purchase_date, fees, commitment_term, content_hash
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: list_subscriptions
SELECT id, product_name, description, sku, quantity, billing_cycle, purchase_date, fees, commitment_term
FROM subscriptions
WHERE run_id = ? AND customer_id = ?
ORDER BY run_id, customer_id, id, content_hash;

-- name: each_subscription
-- Every subscription of the run, customer by customer (EachCustomerSubscriptions: Digest and
-- a report's licence check).
SELECT customer_id, id, product_name, description, sku, quantity, billing_cycle, purchase_date,
       fees, commitment_term
FROM subscriptions
WHERE run_id = ?
ORDER BY run_id, customer_id, id, content_hash;

-- name: copy_coverage
-- Copies one customer's coverage row from an earlier run (run --retry-missing).
INSERT INTO customer_coverage (run_id, customer_id, coverage, error, period_from, period_to, subscriptions_error)
SELECT ?, customer_id, coverage, error, period_from, period_to, subscriptions_error
FROM customer_coverage
WHERE run_id = ? AND customer_id = ?;

-- name: copy_coverage_listed
-- SQLite's copy_coverage in the customer writer's transactions (see
-- insert_coverage_listed): copied only if the customer is in the new run's list.
INSERT INTO customer_coverage (run_id, customer_id, coverage, error, period_from, period_to, subscriptions_error)
SELECT k.run_id, c.customer_id, c.coverage, c.error, c.period_from, c.period_to, c.subscriptions_error
FROM customer_coverage c
JOIN customers k ON k.run_id = ? AND k.id = c.customer_id
WHERE c.run_id = ? AND c.customer_id = ?;

-- name: copy_receivables
INSERT INTO receivable_charges (
    run_id, customer_id, line_no, sku, charge_id, charge_type, period_from, period_to,
    quantity, cost_price, cost_price_prorated, currency, detail, content_hash
)
SELECT ?, customer_id, line_no, sku, charge_id, charge_type, period_from, period_to,
       quantity, cost_price, cost_price_prorated, currency, detail, content_hash
FROM receivable_charges
WHERE run_id = ? AND customer_id = ?;

-- name: copy_subscriptions
INSERT INTO subscriptions (
    run_id, customer_id, line_no, id, product_name, description, sku, quantity, billing_cycle,
    purchase_date, fees, commitment_term, content_hash
)
SELECT ?, customer_id, line_no, id, product_name, description, sku, quantity, billing_cycle,
       purchase_date, fees, commitment_term, content_hash
FROM subscriptions
WHERE run_id = ? AND customer_id = ?;
