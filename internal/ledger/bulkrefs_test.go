package ledger

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// The bulk writers switch SQLite's row-by-row reference checks off for their
// own transactions only: every connection they hand back to the pool checks
// references again, after a commit as after a failure, so the other writes
// (and deletes of a parent) are still refused.
func TestBulkWritersRestoreReferences(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, append(customerLines("cust-a", 0, 3), customerLines("cust-b", 3, 2)...))
	checkPooledReferences(t, s, "after a payable batch's commit")
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	if err := w.Save(CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october,
		Receivables: []billing.ReceivableCharge{sampleReceivable(0)}, Subscriptions: []billing.Subscription{sampleSubscription(0)}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkPooledReferences(t, s, "after a customer writer's commit")
	if err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "not-listed", Coverage: billing.CoverageAvailable, Period: october}); err == nil {
		t.Fatal("a customer not in the run's list was stored")
	}
	checkPooledReferences(t, s, "after a customer transaction rolled back")
	other := mustBeginRun(t, s)
	b, err := s.NewPayableBatch(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(samplePayable(1)); err != nil {
		t.Fatal(err)
	}
	b.Rollback()
	checkPooledReferences(t, s, "after a payable batch rolled back")

	_, err = s.db.ExecContext(ctx, `INSERT INTO receivable_charges (run_id, customer_id, line_no, sku, charge_id,
		charge_type, period_from, period_to, currency, detail, content_hash)
		VALUES (?, 'b', 1, 's', 'x', 'c', 'f', 't', 'USD', '[]', 'h')`, id)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("a receivable line of a customer without coverage, after the writers: %v, want a foreign key failure", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM customer_coverage WHERE run_id = ? AND customer_id = 'a'`, id); err == nil ||
		!strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("deleting the coverage of a customer with lines: %v, want a foreign key failure", err)
	}
}

// checkPooledReferences fails t unless every connection in s's pool checks
// foreign keys: they are taken all at once, so none is handed out twice.
func checkPooledReferences(t *testing.T, s *Store, when string) {
	t.Helper()
	ctx := context.Background()
	n := s.db.Stats().Idle
	if n == 0 {
		t.Fatalf("%s: no pooled connection", when)
	}
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil || on != 1 {
			t.Errorf("%s: pooled connection %d of %d: foreign_keys = %d (%v), want 1", when, len(conns), n, on, err)
		}
	}
}

// ForeignKeyCheck finds what the row-by-row checks would have refused: here
// lines and subscriptions of a customer without coverage, and a payable line
// numbered as another customer key, written with the checks off.
func TestForeignKeyCheckFindsOrphans(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, append(customerLines("cust-a", 0, 2), customerLines("cust-b", 2, 2)...))
	saveCustomerWithData(t, s, id, "c-1", billing.CoverageAvailable,
		[]billing.ReceivableCharge{sampleReceivable(1)}, []billing.Subscription{sampleSubscription(1)})
	if err := s.ForeignKeyCheck(ctx); err != nil {
		t.Fatalf("a ledger written by the writers: %v", err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"PRAGMA foreign_keys = OFF",
		`INSERT INTO receivable_charges (run_id, customer_id, line_no, sku, charge_id, charge_type, period_from,
			period_to, currency, detail, content_hash) VALUES (1, 'ghost', 1, 's', 'x', 'c', 'f', 't', 'USD', '[]', 'h')`,
		`INSERT INTO subscriptions (run_id, customer_id, line_no, id, product_name, description, sku, billing_cycle,
			purchase_date, content_hash) VALUES (1, 'ghost', 1, 'sub', 'p', 'd', 's', 'monthly', '2026-01-01', 'h')`,
		`INSERT INTO payable_charges (run_id, line_no, customer_key, sku, charge_type, period_from, period_to,
			currency, charge_id, detail, content_hash, customer_ord) VALUES (1, 99, 'cust-a', 's', 'c', 'f', 't', 'USD', 'x', '[]', 'h', 2)`,
		"PRAGMA foreign_keys = ON",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	err = s.ForeignKeyCheck(ctx)
	if err == nil {
		t.Fatal("ForeignKeyCheck found nothing")
	}
	for _, want := range []string{"3 rows", "receivable_charges (parent customer_coverage", "subscriptions (parent customer_coverage", "payable_charges (parent payable_customers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ForeignKeyCheck = %v; want it to name %q", err, want)
		}
	}
	// Leave the ledger whole for the cleanup's own check.
	for _, q := range []string{"DELETE FROM receivable_charges WHERE customer_id = 'ghost'",
		"DELETE FROM subscriptions WHERE customer_id = 'ghost'", "DELETE FROM payable_charges WHERE line_no = 99"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// A customer copied from an earlier run (run --retry-missing) must be in the
// new run's list too: the coverage row checks it in the writer's transaction.
func TestCopyCustomerNotListed(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	base := mustBeginRun(t, s)
	saveCustomerWithData(t, s, base, "c-1", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1)}, nil)
	next := mustBeginRun(t, s)
	if err := s.SaveCustomers(ctx, next, []billing.Customer{{ID: "c-2"}}); err != nil {
		t.Fatal(err)
	}
	err := s.SaveCustomerData(ctx, next, CustomerData{CustomerID: "c-1", Coverage: billing.CoverageAvailable, CopyFrom: base})
	if err == nil {
		t.Fatal("a customer not in the run's list was copied")
	}
	if _, n, cerr := s.Counts(ctx, next); cerr != nil || n != 0 {
		t.Errorf("%d receivable lines copied (%v), want 0", n, cerr)
	}
}
