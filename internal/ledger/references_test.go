package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// wantFKViolation fails unless err is PostgreSQL's foreign_key_violation
// (23503) and its message names every string in names.
func wantFKViolation(t *testing.T, what string, err error, names ...string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23503" {
		t.Errorf("%s: error %v, want SQLSTATE 23503 (foreign_key_violation)", what, err)
		return
	}
	for _, n := range append(names, "foreign key") {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%s: error %q does not name %q", what, err, n)
		}
	}
}

// copyOne runs one COPY of the single row encode writes, on a connection of
// s, in a transaction that is rolled back (or committed, when commit).
func copyOne(t *testing.T, s *Store, sql string, encode func(e *copyEncoder) error) error {
	t.Helper()
	ctx := context.Background()
	conn, err := s.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return withPgConn(conn, func(pc *pgx.Conn) error {
		var e copyEncoder
		e.header()
		if err := encode(&e); err != nil {
			t.Fatal(err)
		}
		return copyBuffer(ctx, pc, sql, &e, 1)
	})
}

// On PostgreSQL the references of the charge tables are checked per
// statement by triggers (migration 0007), for COPY and INSERT alike: a row
// whose run or coverage row does not exist fails with 23503, and a run or
// coverage row that rows refer to cannot be deleted, truncated or re-keyed.
func TestReferencesCheckedPerStatement(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storeRun(t, s, 1, nil)
	const orphanRun = 987654

	// Orphan rows, by COPY (the ledger's own path) and by INSERT.
	var codec rowCodec
	err := copyOne(t, s, copyPayableSQL, func(e *copyEncoder) error {
		c := samplePayable(1)
		return codec.copyPayable(e, orphanRun, 1, customerKey(c.Tags), 1, c)
	})
	wantFKViolation(t, "payable COPY into a run that does not exist", err, "payable_charges", "987654")
	_, err = s.db.ExecContext(ctx, `INSERT INTO payable_charges (run_id, line_no, customer_key, sku, charge_type, period_from,
		period_to, currency, charge_id, detail, content_hash, customer_ord) VALUES ($1, 1, '', 's', 'c', 'f', 't', 'USD', 'x', '{}', 'h', 1)`, orphanRun)
	wantFKViolation(t, "payable INSERT into a run that does not exist", err, "payable_charges", "987654")

	conn, err := s.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = withPgConn(conn, func(pc *pgx.Conn) error {
		st := &customerStmts{pg: pc}
		r := &customerRows{pg: true}
		if err := r.copyReceivables(id, "nobody", []billing.ReceivableCharge{sampleReceivable(1)}); err != nil {
			t.Fatalf("encode: %v", err)
		}
		st.copies().receivables.addRows("nobody", r.nRecv, r.pgRecv.buf)
		return st.flushCopies(ctx)
	})
	conn.Close()
	wantFKViolation(t, "receivable COPY of a customer without coverage", err, "receivable_charges", "nobody")
	_, err = s.db.ExecContext(ctx, `INSERT INTO receivable_charges (run_id, customer_id, line_no, sku, charge_id, charge_type,
		period_from, period_to, currency, detail, content_hash) VALUES ($1, 'nobody', 1, 's', 'x', 'c', 'f', 't', 'USD', '{}', 'h')`, id)
	wantFKViolation(t, "receivable INSERT of a customer without coverage", err, "receivable_charges", "nobody")

	conn, err = s.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = withPgConn(conn, func(pc *pgx.Conn) error {
		st := &customerStmts{pg: pc}
		r := &customerRows{pg: true}
		if err := r.copySubscriptions(id, "nobody", []billing.Subscription{sampleSubscription(1)}); err != nil {
			t.Fatalf("encode: %v", err)
		}
		st.copies().subscriptions.addRows("nobody", r.nSubs, r.pgSubs.buf)
		return st.flushCopies(ctx)
	})
	conn.Close()
	wantFKViolation(t, "subscription COPY of a customer without coverage", err, "subscriptions", "nobody")
	_, err = s.db.ExecContext(ctx, `INSERT INTO subscriptions (run_id, customer_id, line_no, id, product_name, description, sku,
		billing_cycle, purchase_date, content_hash) VALUES ($1, 'nobody', 1, 's', 'p', 'd', 'k', 'm', 'x', 'h')`, id)
	wantFKViolation(t, "subscription INSERT of a customer without coverage", err, "subscriptions", "nobody")
	// Of several customers without coverage, the first in key order is named.
	_, err = s.db.ExecContext(ctx, `INSERT INTO receivable_charges (run_id, customer_id, line_no, sku, charge_id, charge_type,
		period_from, period_to, currency, detail, content_hash) VALUES ($1, 'zz-nobody', 1, 's', 'x', 'c', 'f', 't', 'USD', '{}', 'h'),
		($1, 'mm-nobody', 2, 's', 'y', 'c', 'f', 't', 'USD', '{}', 'h')`, id)
	wantFKViolation(t, "receivable INSERT of two customers without coverage", err, "receivable_charges", "mm-nobody")
	if err != nil && strings.Contains(err.Error(), "zz-nobody") {
		t.Errorf("receivable INSERT of two customers without coverage: %v, want the first in key order named (mm-nobody)", err)
	}

	// One orphan among good rows fails the whole statement.
	_, err = s.db.ExecContext(ctx, `INSERT INTO payable_charges SELECT * FROM payable_charges WHERE run_id = $1
		UNION ALL SELECT $2, line_no, customer_key, sku, charge_type, period_from, period_to, currency, charge_id, sub_total,
		quantity, detail, content_hash, customer_ord FROM payable_charges WHERE run_id = $1 AND line_no = 1`, id, orphanRun)
	wantFKViolation(t, "payable INSERT with one orphan row", err, "987654")

	// Parents that rows refer to stay (a run with payable lines only: its
	// other references are foreign keys).
	pid := storePayables(t, s, []*billing.PayableCharge{samplePayable(1), samplePayable(2)})
	_, err = s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = $1`, pid)
	wantFKViolation(t, "DELETE of a run with payable customer keys", err, "payable_customers")
	// payable_customers refers to runs by a foreign key; without its rows the
	// lines' trigger is what keeps the run.
	if _, err = s.db.ExecContext(ctx, `DELETE FROM payable_customers WHERE run_id = $1`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = $1`, pid)
	wantFKViolation(t, "DELETE of a run with payable lines", err, "payable_charges")
	_, err = s.db.ExecContext(ctx, `UPDATE runs SET id = $2 WHERE id = $1`, pid, orphanRun)
	wantFKViolation(t, "UPDATE of the id of a run with payable lines", err, "payable_charges")
	if _, err = s.db.ExecContext(ctx, `DELETE FROM payable_charges WHERE run_id = $1`, pid); err != nil {
		t.Fatal(err)
	}
	if _, err = s.db.ExecContext(ctx, `UPDATE runs SET id = $2 WHERE id = $1`, pid, orphanRun); err != nil {
		t.Fatalf("UPDATE of the id of a run without lines: %v", err)
	}
	if _, err = s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = $1`, orphanRun); err != nil {
		t.Fatalf("DELETE of a run without lines: %v", err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM customer_coverage WHERE run_id = $1`, id)
	wantFKViolation(t, "DELETE of coverage rows with receivable lines", err, "receivable_charges")
	_, err = s.db.ExecContext(ctx, `DELETE FROM receivable_charges WHERE run_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM customer_coverage WHERE run_id = $1`, id)
	wantFKViolation(t, "DELETE of coverage rows with subscriptions", err, "subscriptions")
	_, err = s.db.ExecContext(ctx, `TRUNCATE customer_coverage`)
	wantFKViolation(t, "TRUNCATE of coverage rows with subscriptions", err, "subscriptions")

	// Updates that keep the keys pass the checks (the lease heartbeat, the
	// run's counters), and the whole run still goes the ledger's way.
	if _, err := s.db.ExecContext(ctx, `UPDATE runs SET calls = calls + 1 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRuns(ctx, []int64{id}); err != nil {
		t.Fatalf("DeleteRuns: %v", err)
	}
	for _, table := range []string{"payable_charges", "receivable_charges", "subscriptions", "customer_coverage", "runs"} {
		var n int
		if err := s.db.GetContext(ctx, &n, "SELECT count(*) FROM "+table); err != nil || n != 0 {
			t.Errorf("%s: %d rows after DeleteRuns (%v)", table, n, err)
		}
	}
}

// A PostgreSQL ledger at 0006 (foreign keys on the charge tables) migrates to
// 0007 (statement triggers) with its runs reading back the same, and the
// references are enforced afterwards.
func TestMigrateReferenceTriggers(t *testing.T) {
	dbtest.PostgresOnly(t)
	ctx := context.Background()
	url := dbtest.DB(t)
	old := mustOpenPath(t, url, Options{migrateThrough: "0006_charges_clustered.sql"})
	ids := []int64{storeRun(t, old, 0, nil), storeRun(t, old, 2, nil), storeTiedRun(t, old, false)}
	before := map[int64]runContent{}
	for _, id := range ids {
		before[id] = readRun(t, old, id)
	}
	fkeys := func(s *Store) int {
		var n int
		if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conname IN
			('payable_charges_run_id_fkey', 'receivable_charges_run_id_customer_id_fkey', 'subscriptions_run_id_customer_id_fkey')`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := fkeys(old); n != 3 {
		t.Fatalf("0006: %d of the 3 foreign keys", n)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpenPath(t, url, Options{})
	if n := fkeys(s); n != 0 {
		t.Fatalf("0007: %d of the 3 foreign keys left", n)
	}
	var triggers int
	if err := s.db.GetContext(ctx, &triggers, `SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%\_ref\_%'`); err != nil || triggers != 12 {
		t.Fatalf("%d reference triggers (%v), want 12", triggers, err)
	}
	for _, id := range ids {
		got := readRun(t, s, id)
		want := before[id]
		if got.digest != want.digest {
			t.Errorf("run %d: digest %s after 0007, %s before", id, got.digest, want.digest)
		}
		for _, d := range diff(want.payables, got.payables) {
			t.Errorf("run %d payables: %s", id, d)
		}
		for _, d := range diff(want.receivables, got.receivables) {
			t.Errorf("run %d receivable customers: %s", id, d)
		}
		for _, d := range diff(want.charges, got.charges) {
			t.Errorf("run %d receivables: %s", id, d)
		}
	}
	again := storeRun(t, s, 2, nil)
	if got := readRun(t, s, again); got.digest != before[ids[1]].digest {
		t.Errorf("run written after 0007: digest %s, %s before", got.digest, before[ids[1]].digest)
	}
	for _, table := range []string{"subscriptions", "receivable_charges", "customer_coverage", "customers", "payable_customers"} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+table+" WHERE run_id = $1", ids[0]); err != nil {
			t.Fatalf("delete from %s: %v", table, err)
		}
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = $1`, ids[0])
	wantFKViolation(t, "DELETE of a migrated run with payable lines", err, "payable_charges")
}

// A group whose encoded rows pass customerCopyFlush is written in several
// COPYs of the same transaction: the same rows and digest as one by one.
func TestCustomerWriterFlushesLargeGroups(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	defer func(n int) { customerCopyFlush = n }(customerCopyFlush)
	customerCopyFlush = 4000 // a few customers per COPY
	var cs []billing.Customer
	for i := range 20 {
		cs = append(cs, billing.Customer{ID: fmt.Sprintf("c%02d", i)})
	}
	data := func(i int) CustomerData {
		d := CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
			Subscriptions: []billing.Subscription{sampleSubscription(i)}}
		for k := range i % 7 {
			d.Receivables = append(d.Receivables, sampleReceivable(10*i+k))
		}
		return d
	}
	var digests []string
	for _, writer := range []bool{true, false} {
		id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
		if err := s.SaveCustomers(ctx, id, cs); err != nil {
			t.Fatal(err)
		}
		if writer {
			w := s.NewCustomerWriter(ctx, id)
			for i := range cs {
				if err := w.Save(data(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			customerCopyFlush = 8 << 20
			for i := range cs {
				if err := s.SaveCustomerData(ctx, id, data(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.FinishRun(ctx, id, billing.RunComplete, RunStats{}, "", t0); err != nil {
			t.Fatal(err)
		}
		d := mustDigest(t, s, id)
		digests = append(digests, d)
		if _, n, err := s.Counts(ctx, id); err != nil || n != 57 {
			t.Fatalf("receivable lines = %d, %v; want 57", n, err)
		}
	}
	if digests[0] != digests[1] {
		t.Fatalf("digest with flushes %s, one by one %s", digests[0], digests[1])
	}
}

// The coverage check of the receivable lines and subscriptions looks each
// customer of a statement up by customer_coverage's primary key (0012): it
// does not scan the table, which holds every run's customers, so its cost
// does not grow with the ledger. At 0011 it scanned the table.
func TestCoverageReferenceUsesPrimaryKey(t *testing.T) {
	dbtest.PostgresOnly(t)
	ctx := context.Background()
	url := dbtest.DB(t)
	const customers, perCustomer, written = 2000, 100, 64
	// scans writes a run of customers with coverage rows, then inserts the
	// receivable lines of 64 of them in one statement and returns the scans
	// of customer_coverage that statement made.
	scans := func(s *Store) (seq, idx int64) {
		t.Helper()
		id := mustBeginRun(t, s)
		storeNumberedCustomers(t, s, id, customers, nil)
		if _, err := s.db.ExecContext(ctx, "ANALYZE customer_coverage"); err != nil {
			t.Fatal(err)
		}
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO receivable_charges (run_id, customer_id, line_no, sku, charge_id,
			charge_type, period_from, period_to, currency, detail, content_hash)
			SELECT $1, 'c' || lpad((g / $2)::text, 4, '0'), g, 's', 'x' || g, 'c', 'f', 't', 'USD', '{}', 'h'
			FROM generate_series(0, $3 - 1) g`, id, perCustomer, written*perCustomer); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowxContext(ctx, `SELECT seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables
			WHERE relname = 'customer_coverage'`).Scan(&seq, &idx); err != nil {
			t.Fatal(err)
		}
		return seq, idx
	}

	old := mustOpenPath(t, url, Options{migrateThrough: "0011_subscription_positional.sql"})
	if seq, _ := scans(old); seq == 0 {
		t.Fatal("at 0011 the check did not scan customer_coverage: this test no longer tells the two checks apart")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustOpenPath(t, url, Options{})
	if seq, idx := scans(s); seq != 0 || idx < written {
		t.Errorf("the coverage check of %d customers' lines: %d sequential and %d index scans of customer_coverage, want 0 and at least %d",
			written, seq, idx, written)
	}
}
