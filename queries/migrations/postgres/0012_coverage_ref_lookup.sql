-- 0012_coverage_ref_lookup (PostgreSQL; SQLite: ../0012_coverage_ref_lookup.sql,
-- a no-op). The statement trigger of receivable_charges and subscriptions
-- (0007) checks the customers of a statement's rows one by one through
-- customer_coverage's primary key.
--
-- Why: 0007's check locked the parents with
--   customer_coverage c WHERE (c.run_id, c.customer_id) IN (SELECT ... FROM new_rows)
-- which PostgreSQL plans as a hash join over a sequential scan of the whole
-- customer_coverage table, every run's rows: 11 of the 18 ms a group of 64
-- customers took in a ledger holding four W1M runs (40,000 coverage rows),
-- ≈ 29 % of the server's CPU in a W1M fan-out, and growing with every month
-- the ledger keeps. Now the statement's distinct keys (64 a group) are
-- looked up one at a time by the primary key, in key order: the cost no
-- longer depends on the ledger's size.
--
-- The contract is 0007's: every key is locked FOR KEY SHARE, as a foreign key
-- locks its parent, and the first key in (run_id, customer_id) order that has
-- no coverage row fails the statement with SQLSTATE 23503, naming it.

CREATE OR REPLACE FUNCTION ledger_coverage_children_ref() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k RECORD;
BEGIN
    FOR k IN SELECT d.run_id, d.customer_id
             FROM (SELECT run_id, customer_id FROM new_rows GROUP BY run_id, customer_id) d
             ORDER BY d.run_id, d.customer_id
    LOOP
        PERFORM 1 FROM customer_coverage c
        WHERE c.run_id = k.run_id AND c.customer_id = k.customer_id
        FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key "%_run_id_customer_id_fkey": key (run_id, customer_id)=(%, %) is not present in table "customer_coverage"',
                TG_TABLE_NAME, TG_TABLE_NAME, k.run_id, k.customer_id
                USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      CONSTRAINT = TG_TABLE_NAME || '_run_id_customer_id_fkey';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
