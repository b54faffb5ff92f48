package ledger

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// customerLines are n payable lines of the customer whose CustomerId tag is
// key, charge ids from first on.
func customerLines(key string, first, n int) []*billing.PayableCharge {
	var out []*billing.PayableCharge
	for i := first; i < first+n; i++ {
		c := samplePayable(i)
		c.Tags = []billing.Tag{{Name: "CustomerId", Value: key}}
		out = append(out, c)
	}
	return out
}

type payableCustomerRow struct {
	Key string `db:"customer_key"`
	Ord int64  `db:"customer_ord"`
}

func payableCustomers(tb testing.TB, s *Store, runID int64) []payableCustomerRow {
	tb.Helper()
	var rows []payableCustomerRow
	if err := s.db.Select(&rows, s.db.Rebind(`SELECT customer_key, customer_ord FROM payable_customers
		WHERE run_id = ? ORDER BY customer_ord`), runID); err != nil {
		tb.Fatal(err)
	}
	return rows
}

// The batch numbers the stream's customer keys in order of first appearance
// (payable_customers), every line carries its key's number, and the lines
// still read back in key order. The customers span several chunks, and one
// comes back after the others.
func TestPayableCustomersNumberedByFirstAppearance(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	var stream []*billing.PayableCharge
	stream = append(stream, customerLines("cust-c", 0, 300)...)
	stream = append(stream, customerLines("cust-a", 300, 300)...)
	stream = append(stream, customerLines("cust-b", 600, 300)...)
	stream = append(stream, customerLines("cust-c", 900, 5)...)
	id := storePayables(t, s, stream)

	want := []payableCustomerRow{{"cust-c", 1}, {"cust-a", 2}, {"cust-b", 3}}
	if got := payableCustomers(t, s, id); !slices.Equal(got, want) {
		t.Fatalf("payable_customers = %v, want %v", got, want)
	}
	var wrong int
	if err := s.db.Get(&wrong, s.db.Rebind(`SELECT COUNT(*) FROM payable_charges p
		WHERE p.run_id = ? AND NOT EXISTS (SELECT 1 FROM payable_customers k
		WHERE k.run_id = p.run_id AND k.customer_ord = p.customer_ord AND k.customer_key = p.customer_key)`), id); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d lines carry a number that is not their key's", wrong)
	}

	got := readPayables(t, s, id)
	if len(got) != len(stream) {
		t.Fatalf("%d lines read back, %d stored", len(got), len(stream))
	}
	keys := make([]string, len(got))
	for i, c := range got {
		keys[i] = customerKey(c.Tags)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("lines not read back in customer key order: %v ... %v", keys[:3], keys[len(keys)-3:])
	}
	var transient []string
	if err := s.EachPayableTransient(ctx, id, func(c *billing.PayableCharge) error {
		transient = append(transient, customerKey(c.Tags)+"/"+c.ChargeID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		if w := customerKey(c.Tags) + "/" + c.ChargeID; transient[i] != w {
			t.Fatalf("transient read, line %d: %s, want %s", i, transient[i], w)
		}
	}

	// The same lines sent in another order: another numbering, the same reads.
	slices.Reverse(stream)
	again := storePayables(t, s, stream)
	if got := payableCustomers(t, s, again); !slices.Equal(got, []payableCustomerRow{{"cust-c", 1}, {"cust-b", 2}, {"cust-a", 3}}) {
		t.Errorf("reversed stream: payable_customers = %v", got)
	}
	d1 := mustDigest(t, s, id)
	d2 := mustDigest(t, s, again)
	if d1 != d2 {
		t.Errorf("the same lines in another stream order: digest %s, then %s", d1, d2)
	}
	if err := s.DeleteRuns(ctx, []int64{again}); err != nil {
		t.Fatal(err)
	}
	if got := payableCustomers(t, s, again); len(got) != 0 {
		t.Errorf("deleted run still has payable_customers %v", got)
	}
}

// A retried stream (Reset) numbers its customers from 1 again: nothing of
// the discarded attempt is stored.
func TestPayableCustomersAfterReset(t *testing.T) {
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	b := mustPayableBatch(t, s, id)
	for _, c := range customerLines("cust-x", 0, 600) {
		if err := b.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(customerLines("cust-b", 0, 3), customerLines("cust-a", 3, 3)...) {
		if err := b.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
	if got, want := payableCustomers(t, s, id), []payableCustomerRow{{"cust-b", 1}, {"cust-a", 2}}; !slices.Equal(got, want) {
		t.Errorf("payable_customers after Reset = %v, want %v", got, want)
	}
	if n := len(readPayables(t, s, id)); n != 6 {
		t.Errorf("%d lines after Reset, want 6", n)
	}
}

// On SQLite the order of the reads depends on customer_ord, so a line must
// carry the number of its own key: the foreign key refuses any other.
func TestPayableCustomerOrdChecked(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, append(customerLines("cust-a", 0, 2), customerLines("cust-b", 2, 2)...))
	insert := func(key string, ord int64) error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO payable_charges (run_id, line_no, customer_key, sku, charge_type,
			period_from, period_to, currency, charge_id, detail, content_hash, customer_ord)
			VALUES (?, 99, ?, 's', 'c', 'f', 't', 'USD', 'x', '[]', 'h', ?)`, id, key, ord)
		return err
	}
	for _, tt := range []struct {
		key string
		ord int64
	}{{"cust-a", 3}, {"cust-a", 2}, {"cust-c", 1}} {
		err := insert(tt.key, tt.ord)
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("line of %s numbered %d: error %v, want a foreign key failure", tt.key, tt.ord, err)
		}
	}
	if err := insert("cust-b", 2); err != nil {
		t.Errorf("line of cust-b numbered 2: %v", err)
	}
}

// A ledger migrated to 0010 numbers each run's existing customer keys in key
// order, and every line gets its key's number.
func TestMigratePayableCustomerOrder(t *testing.T) {
	path := dbtest.DB(t)
	old := mustOpenPath(t, path, Options{migrateThrough: "0009_subscriptions_clustered.sql"})
	var stream []*billing.PayableCharge
	for i, k := range []string{"cust-c", "cust-a", "", "cust-b"} {
		stream = append(stream, customerLines(k, 100*i, 100)...)
	}
	stream[250].Tags = nil // customer_key "" in the middle of cust-""'s lines
	id := storePayables(t, old, stream)
	before := readRun(t, old, id)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustOpenPath(t, path, Options{})
	want := []payableCustomerRow{{"", 1}, {"cust-a", 2}, {"cust-b", 3}, {"cust-c", 4}}
	if got := payableCustomers(t, s, id); !slices.Equal(got, want) {
		t.Errorf("migrated payable_customers = %v, want %v", got, want)
	}
	after := readRun(t, s, id)
	if after.digest != before.digest {
		t.Errorf("digest %s after 0010, %s before", after.digest, before.digest)
	}
	for _, d := range diff(before.payables, after.payables) {
		t.Errorf("lines after 0010: %s", d)
	}
}

// The batch's inserts take the fast path (rows bound in C: sqliterows.go),
// which needs the statement's parameter count to be insert_payable's
// values (payableCols), customer_ord included; a mismatch would fall back to
// the driver silently.
func TestPayableWriterFastPath(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	if err := s.lockWrite(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.unlockWrite()
	w, err := s.newPayableWriter(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.close(false); err != nil {
			t.Errorf("roll the writer back: %v", err)
		}
	}()
	if w.fast == nil {
		t.Errorf("payable inserts through the driver, not in C batches (insert_payable has %d values?)", payableCols)
	}
	if w.cstmt == nil {
		t.Error("no insert_payable_customer statement")
	}
}
