-- 0007_reference_triggers (PostgreSQL; SQLite: ../0007_reference_triggers.sql,
-- a no-op). The references of the bulk-loaded tables are checked once per
-- statement instead of once per row, still by the database:
--
--   payable_charges.run_id                       -> runs (id)
--   receivable_charges (run_id, customer_id)     -> customer_coverage (run_id, customer_id)
--   subscriptions (run_id, customer_id)          -> customer_coverage (run_id, customer_id)
--
-- Why: a FOREIGN KEY constraint is checked per row. For every inserted row
-- PostgreSQL queues an after-trigger event and, at the end of the statement,
-- runs `SELECT 1 FROM runs WHERE id = $1 FOR KEY SHARE` through the executor
-- once per row: for the payable batch (one COPY of up to a million rows that
-- all carry the same run id) that was half to two thirds of the server's CPU
-- per row (BENCHMARKS.md, "PostgreSQL bulk inserts"). The triggers below do
-- the same check once per statement (a COPY is one statement) over the
-- statement's inserted rows (a transition table): the distinct parent keys are
-- locked FOR KEY SHARE, as the foreign key locks them, and any key that has no
-- parent row fails the statement with SQLSTATE 23503 (foreign_key_violation),
-- as the foreign key did, naming the key.
--
-- The reverse direction is kept too: a run, or a customer's coverage row,
-- cannot be deleted (or truncated away, or have its key changed) while rows of
-- these tables refer to it (23503). `runs prune` deletes a run's children
-- before the run, as before; `ledger copy` inserts parents before children.
--
-- Concurrency, as with the foreign key: a writer inserting rows locks their
-- parents FOR KEY SHARE, so a concurrent DELETE of a parent waits for it and
-- then (READ COMMITTED, the ledger's write isolation) sees the new rows and
-- fails; an insert whose parent was deleted meanwhile sees it gone and fails.
--
-- The other references (customers, customer_coverage -> customers, run
-- summaries, exceptions, deliveries) stay foreign keys: one row per customer
-- or per run, not per charge. The functions run with the rights of the
-- writer, which has SELECT and UPDATE on the ledger's tables anyway (FOR KEY
-- SHARE needs UPDATE). Creating them needs what creating the tables needed
-- (CREATE on the schema, ownership of the tables).

ALTER TABLE payable_charges DROP CONSTRAINT payable_charges_run_id_fkey;
ALTER TABLE receivable_charges DROP CONSTRAINT receivable_charges_run_id_customer_id_fkey;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_run_id_customer_id_fkey;

-- ---- children -> parents: every inserted (or updated) row has its parent ----

-- payable_charges rows (transition table new_rows) -> runs.
CREATE FUNCTION ledger_payable_charges_ref() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids  BIGINT[];
    gone BIGINT;
BEGIN
    SELECT array_agg(run_id) INTO ids FROM (SELECT DISTINCT run_id FROM new_rows) k;
    PERFORM 1 FROM runs WHERE id = ANY (ids) FOR KEY SHARE;
    SELECT k.id INTO gone FROM unnest(ids) AS k(id)
    WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = k.id)
    ORDER BY k.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key "payable_charges_run_id_fkey": key (run_id)=(%) is not present in table "runs"',
            TG_TABLE_NAME, gone
            USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'payable_charges_run_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

-- receivable_charges or subscriptions rows (new_rows) -> customer_coverage.
CREATE FUNCTION ledger_coverage_children_ref() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone RECORD;
BEGIN
    PERFORM 1 FROM customer_coverage c
    WHERE (c.run_id, c.customer_id) IN (SELECT run_id, customer_id FROM new_rows)
    FOR KEY SHARE OF c;
    SELECT k.run_id, k.customer_id INTO gone FROM (SELECT DISTINCT run_id, customer_id FROM new_rows) k
    WHERE NOT EXISTS (SELECT 1 FROM customer_coverage c WHERE c.run_id = k.run_id AND c.customer_id = k.customer_id)
    ORDER BY k.run_id, k.customer_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key "%_run_id_customer_id_fkey": key (run_id, customer_id)=(%, %) is not present in table "customer_coverage"',
            TG_TABLE_NAME, TG_TABLE_NAME, gone.run_id, gone.customer_id
            USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                  CONSTRAINT = TG_TABLE_NAME || '_run_id_customer_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER payable_charges_ref_insert AFTER INSERT ON payable_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_payable_charges_ref();
CREATE TRIGGER payable_charges_ref_update AFTER UPDATE ON payable_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_payable_charges_ref();
CREATE TRIGGER receivable_charges_ref_insert AFTER INSERT ON receivable_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_children_ref();
CREATE TRIGGER receivable_charges_ref_update AFTER UPDATE ON receivable_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_children_ref();
CREATE TRIGGER subscriptions_ref_insert AFTER INSERT ON subscriptions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_children_ref();
CREATE TRIGGER subscriptions_ref_update AFTER UPDATE ON subscriptions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_children_ref();

-- ---- parents -> children: no parent goes while rows refer to it ----

-- Deleted runs (old_rows), or a run whose id changed (row trigger below, OLD),
-- that payable_charges rows still refer to.
CREATE FUNCTION ledger_runs_ref() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held BIGINT;
BEGIN
    IF TG_LEVEL = 'ROW' THEN -- an update of the id: the old id still referred to, and no row has it now
        SELECT OLD.id INTO held
        WHERE EXISTS (SELECT 1 FROM payable_charges p WHERE p.run_id = OLD.id)
          AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = OLD.id);
    ELSIF TG_OP = 'TRUNCATE' THEN
        SELECT p.run_id INTO held FROM payable_charges p LIMIT 1;
    ELSE
        SELECT o.id INTO held FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM payable_charges p WHERE p.run_id = o.id)
        ORDER BY o.id LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'update or delete on table "runs" violates foreign key "payable_charges_run_id_fkey" on table "payable_charges": key (id)=(%) is still referenced from table "payable_charges"',
            held
            USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = 'payable_charges',
                  CONSTRAINT = 'payable_charges_run_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

-- Deleted coverage rows (old_rows), or one whose key changed (OLD), that
-- receivable_charges or subscriptions rows still refer to.
CREATE FUNCTION ledger_coverage_ref() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    child    TEXT;
    run      BIGINT;
    customer TEXT;
BEGIN
    IF TG_LEVEL = 'ROW' THEN -- an update of the key: the old key still referred to, and no row has it now
        IF NOT EXISTS (SELECT 1 FROM customer_coverage c WHERE c.run_id = OLD.run_id AND c.customer_id = OLD.customer_id) THEN
            run := OLD.run_id;
            customer := OLD.customer_id;
            IF EXISTS (SELECT 1 FROM receivable_charges x WHERE x.run_id = run AND x.customer_id = customer) THEN
                child := 'receivable_charges';
            ELSIF EXISTS (SELECT 1 FROM subscriptions x WHERE x.run_id = run AND x.customer_id = customer) THEN
                child := 'subscriptions';
            END IF;
        END IF;
    ELSIF TG_OP = 'TRUNCATE' THEN
        SELECT x.run_id, x.customer_id INTO run, customer FROM receivable_charges x LIMIT 1;
        IF FOUND THEN
            child := 'receivable_charges';
        ELSE
            SELECT x.run_id, x.customer_id INTO run, customer FROM subscriptions x LIMIT 1;
            IF FOUND THEN
                child := 'subscriptions';
            END IF;
        END IF;
    ELSE
        SELECT o.run_id, o.customer_id INTO run, customer FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM receivable_charges x WHERE x.run_id = o.run_id AND x.customer_id = o.customer_id)
        ORDER BY o.run_id, o.customer_id LIMIT 1;
        IF FOUND THEN
            child := 'receivable_charges';
        ELSE
            SELECT o.run_id, o.customer_id INTO run, customer FROM old_rows o
            WHERE EXISTS (SELECT 1 FROM subscriptions x WHERE x.run_id = o.run_id AND x.customer_id = o.customer_id)
            ORDER BY o.run_id, o.customer_id LIMIT 1;
            IF FOUND THEN
                child := 'subscriptions';
            END IF;
        END IF;
    END IF;
    IF child IS NOT NULL THEN
        RAISE EXCEPTION 'update or delete on table "customer_coverage" violates foreign key "%_run_id_customer_id_fkey" on table "%": key (run_id, customer_id)=(%, %) is still referenced from table "%"',
            child, child, run, customer, child
            USING ERRCODE = 'foreign_key_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = child,
                  CONSTRAINT = child || '_run_id_customer_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_ref_delete AFTER DELETE ON runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_runs_ref();
CREATE TRIGGER runs_ref_update AFTER UPDATE OF id ON runs
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ledger_runs_ref();
CREATE TRIGGER runs_ref_truncate AFTER TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_runs_ref();
CREATE TRIGGER customer_coverage_ref_delete AFTER DELETE ON customer_coverage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_ref();
CREATE TRIGGER customer_coverage_ref_update AFTER UPDATE OF run_id, customer_id ON customer_coverage
    FOR EACH ROW WHEN (OLD.run_id IS DISTINCT FROM NEW.run_id OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION ledger_coverage_ref();
CREATE TRIGGER customer_coverage_ref_truncate AFTER TRUNCATE ON customer_coverage
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_coverage_ref();
