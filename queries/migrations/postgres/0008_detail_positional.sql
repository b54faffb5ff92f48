-- 0008_detail_positional (PostgreSQL; see ../0008_detail_positional.sql for
-- the format). The detail column of new payable and receivable lines is a
-- positional JSON array instead of a JSON object; it stays TEXT COLLATE "C"
-- (the array is valid UTF-8 text, readable with detail::jsonb -> n).
-- Nothing in the schema changes and no row is rewritten; the migration marks
-- the ledger so that an older reconcile refuses to open it.
--
-- e.g. SELECT detail::jsonb ->> 5 AS list_price FROM payable_charges WHERE run_id = 1;

SELECT 1;
