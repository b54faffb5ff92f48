-- name: insert_exception
INSERT INTO exceptions (action, fingerprint, revokes, reason, by_name, created_at, amount, currency, band, until_period, run_id, kind, customer_id, sku)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id;

-- name: list_exceptions
SELECT id, action, fingerprint, revokes, reason, by_name, created_at, amount, currency, band, until_period, run_id, kind, customer_id, sku
FROM exceptions
ORDER BY id;
