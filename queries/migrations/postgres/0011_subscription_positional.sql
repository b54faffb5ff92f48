-- 0011_subscription_positional (PostgreSQL; see ../0011_subscription_positional.sql
-- for the format). The fees and commitment_term columns of new subscriptions
-- are positional JSON arrays instead of JSON objects; they stay TEXT COLLATE
-- "C" (readable with fees::jsonb ->> 1). Nothing in the schema changes; the
-- migration marks the ledger so that an older reconcile refuses to open it,
-- and wraps a commitment term the API sent as a JSON array as [0, text].
--
-- e.g. SELECT commitment_term::jsonb ->> 2 AS term_end FROM subscriptions WHERE run_id = 1;

UPDATE subscriptions SET commitment_term = '[0,' || commitment_term || ']'
WHERE left(commitment_term, 1) = '[';
