-- name: insert_payable
INSERT INTO payable_charges (
    run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, detail, content_hash
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: count_payable
SELECT COUNT(*) FROM payable_charges WHERE run_id = ?;

-- name: each_payable
-- Deterministic order on business columns, then the content hash. SQLite reads the run's range
-- of the table's primary key (0006: the table is stored in this order up to charge_id) and
-- sorts only lines equal up to charge_id.
SELECT sku, charge_type, period_from, period_to, currency, charge_id, sub_total, quantity, detail
FROM payable_charges
WHERE run_id = ?
ORDER BY run_id, customer_key, sku, charge_type, period_from, period_to, currency,
         charge_id, sub_total, quantity, content_hash;

-- name: insert_receivable
INSERT INTO receivable_charges (
    run_id, customer_id, line_no, sku, charge_id, charge_type, period_from, period_to,
    quantity, cost_price, cost_price_prorated, currency, detail, content_hash
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: count_receivable_available
SELECT COUNT(*)
FROM receivable_charges r
JOIN customer_coverage c ON c.run_id = r.run_id AND c.customer_id = r.customer_id
WHERE r.run_id = ? AND c.coverage = 'available';

-- name: each_receivable_available
-- Receivable lines of customers whose coverage is 'available', in a deterministic order
-- (the table's primary key up to charge_id, see 0006, then a sort of the ties).
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity, r.cost_price, r.cost_price_prorated, r.currency, r.detail
FROM receivable_charges r
JOIN customer_coverage c ON c.run_id = r.run_id AND c.customer_id = r.customer_id
WHERE r.run_id = ? AND c.coverage = 'available'
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.cost_price_prorated, r.quantity, r.content_hash;

-- name: each_receivable_all
-- Every stored receivable line of the run (also 'period_differs', kept for audit); for Digest.
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity, r.cost_price, r.cost_price_prorated, r.currency, r.detail
FROM receivable_charges r
WHERE r.run_id = ?
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.cost_price_prorated, r.quantity, r.content_hash;
