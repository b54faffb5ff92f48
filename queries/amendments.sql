-- name: insert_amendment_event
INSERT INTO amendment_log (at, actor, plan_hash, run_id, period_from, period_to, customer_id, subscription_id,
                           sku, product, current_quantity, new_quantity, event, amendment_id, status, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: list_amendment_events
SELECT seq, at, actor, plan_hash, run_id, period_from, period_to, customer_id, subscription_id,
       sku, product, current_quantity, new_quantity, event, amendment_id, status, detail
FROM amendment_log
ORDER BY seq;

-- name: list_amendment_events_period
SELECT seq, at, actor, plan_hash, run_id, period_from, period_to, customer_id, subscription_id,
       sku, product, current_quantity, new_quantity, event, amendment_id, status, detail
FROM amendment_log
WHERE period_from = ?
ORDER BY seq;

-- name: list_subscriptions_missing
-- Customers of a run whose subscriptions call failed.
SELECT customer_id FROM customer_coverage
WHERE run_id = ? AND subscriptions_error <> ''
ORDER BY customer_id;
