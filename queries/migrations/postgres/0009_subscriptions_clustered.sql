-- 0009_subscriptions_clustered (PostgreSQL): nothing changes. On SQLite the
-- subscriptions become a table clustered by their read order (see
-- ../0009_subscriptions_clustered.sql); PostgreSQL has no clustered tables
-- and keeps the subscriptions_order index its reads use. The migration exists
-- so that both backends have the same list of migrations.
SELECT 1;
