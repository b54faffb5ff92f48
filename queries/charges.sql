-- name: insert_payable
INSERT INTO payable_charges (
    run_id, line_no, customer_key, sku, charge_type, period_from, period_to, currency,
    charge_id, sub_total, quantity, detail, content_hash, customer_ord
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_payable_customer
-- A customer key of the payable stream, numbered in order of first appearance
-- (SQLite: inserted before its first line, which refers to it).
INSERT INTO payable_customers (run_id, customer_key, customer_ord) VALUES (?, ?, ?);

-- name: count_payable
SELECT COUNT(*) FROM payable_charges WHERE run_id = ?;

-- name: each_payable_subtotal
-- The currency and sub_total of every payable line of a run, in no particular order: what a
-- fetch's summary adds up (job.Summarize), without the rest of each line; line_no names a
-- line in an error.
SELECT currency, sub_total, CAST(line_no AS TEXT) FROM payable_charges WHERE run_id = ?;

-- name: each_payable
-- Canonical order: customer_key, sku, charge_type, period_from, period_to, currency,
-- charge_id, then sub_total, quantity (NULL first, exact text in byte order) and the
-- content hash. Since 0010 the table is stored by (customer_ord, sku, ..., charge_id,
-- line_no), customer_ord numbering the run's customer keys (payable_customers): the
-- run's customers are walked in key order (payable_customers' primary key) and each
-- one's range of lines is read as stored, so SQLite sorts nothing (CROSS JOIN fixes
-- that loop order); EachPayable orders the lines equal up to charge_id by the last
-- three columns (ties.go).
SELECT p.sku, p.charge_type, p.period_from, p.period_to, p.currency, p.charge_id, p.sub_total,
       p.quantity, p.detail, p.customer_key, p.content_hash
FROM payable_customers k CROSS JOIN payable_charges p
WHERE k.run_id = ? AND p.run_id = k.run_id AND p.customer_ord = k.customer_ord
ORDER BY k.run_id, k.customer_key, p.sku, p.charge_type, p.period_from, p.period_to, p.currency,
         p.charge_id, p.line_no;

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
-- Receivable lines of customers whose coverage is 'available', in the canonical order
-- (customer_id, sku, charge_type, period_from, period_to, currency, charge_id, then
-- cost_price_prorated, quantity and the content hash): read in the table's primary key
-- order (0006), the ties up to charge_id ordered by EachReceivable (ties.go).
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity, r.cost_price, r.cost_price_prorated, r.currency, r.detail, r.content_hash
FROM receivable_charges r
JOIN customer_coverage c ON c.run_id = r.run_id AND c.customer_id = r.customer_id
WHERE r.run_id = ? AND c.coverage = 'available'
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.line_no;

-- name: each_receivable_all
-- Every stored receivable line of the run (also 'period_differs', kept for audit); for Digest.
SELECT r.customer_id, r.sku, r.charge_id, r.charge_type, r.period_from, r.period_to,
       r.quantity, r.cost_price, r.cost_price_prorated, r.currency, r.detail, r.content_hash
FROM receivable_charges r
WHERE r.run_id = ?
ORDER BY r.run_id, r.customer_id, r.sku, r.charge_type, r.period_from, r.period_to, r.currency,
         r.charge_id, r.line_no;
