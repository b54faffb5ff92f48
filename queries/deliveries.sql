-- name: insert_delivery
INSERT INTO deliveries (run_id, channel, recipients, subject, message_id, attachments, started_at, outcome)
VALUES (?, ?, ?, ?, ?, ?, ?, 'sending')
RETURNING id;

-- name: finish_delivery
UPDATE deliveries
SET outcome = ?, attempts = ?, error = ?, finished_at = ?
WHERE id = ? AND outcome = 'sending';

-- name: list_deliveries
SELECT id, run_id, channel, recipients, subject, message_id, attachments,
       started_at, finished_at, outcome, attempts, error
FROM deliveries
WHERE run_id = ?
ORDER BY id;
