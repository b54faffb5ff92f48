package ledger

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// tiedPayables are payable lines equal up to charge_id, so that their order
// comes from the columns after it (sub_total, quantity, content_hash), with
// NULLs, different scales and exact duplicates among them.
func tiedPayables() []*billing.PayableCharge {
	var out []*billing.PayableCharge
	for i, v := range []struct{ sub, qty string }{
		{"10.00", "1"}, {"", "1"}, {"10.0", "1"}, {"10.00", ""}, {"9.99", "2"}, {"10.00", "1"}, {"-1", "1"}, {"", ""},
	} {
		c := samplePayable(7)
		c.SubTotal, c.Quantity = nullDec(v.sub), nullDec(v.qty)
		if i == 5 {
			c.ChargeName = "other name" // same key columns as line 0, another content hash
		}
		out = append(out, c)
	}
	dup := *out[0]
	return append(out, &dup) // an exact duplicate
}

// tiedReceivables are receivable lines equal up to charge_id, as tiedPayables.
func tiedReceivables() []billing.ReceivableCharge {
	var out []billing.ReceivableCharge
	for i, v := range []struct{ pro, qty string }{
		{"5.00", "2"}, {"", "2"}, {"5.0", "2"}, {"5.00", ""}, {"4.99", "3"}, {"5.00", "2"}, {"", ""},
	} {
		c := sampleReceivable(3)
		c.CostPriceProrated, c.Quantity = nullDec(v.pro), nullDec(v.qty)
		if i == 5 {
			c.ChargeName = "other name"
		}
		out = append(out, c)
	}
	return append(out, out[0]) // an exact duplicate
}

// storeTiedRun stores a run of tied payable and receivable lines, in the
// order given or reversed.
func storeTiedRun(t *testing.T, s *Store, reverse bool) int64 {
	t.Helper()
	ctx := context.Background()
	pay, rec := tiedPayables(), tiedReceivables()
	if reverse {
		slices.Reverse(pay)
		slices.Reverse(rec)
	}
	id := storePayables(t, s, pay)
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "cust-t", DisplayName: "Tied"}}); err != nil {
		t.Fatal(err)
	}
	d := CustomerData{CustomerID: "cust-t", Coverage: billing.CoverageAvailable, Period: october, Receivables: rec}
	if err := s.SaveCustomerData(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, id, billing.RunComplete, RunStats{}, "", t0); err != nil {
		t.Fatal(err)
	}
	return id
}

func nullDec(s string) decimal.NullDecimal {
	if s == "" {
		return decimal.NullDecimal{}
	}
	return dec(s)
}

// runContent is what a stored run reads back as: its digest and its lines in
// canonical order.
type runContent struct {
	digest      string
	payables    []*billing.PayableCharge
	receivables []string // customer id and charge, described
	charges     []billing.ReceivableCharge
}

func readRun(t *testing.T, s *Store, id int64) runContent {
	t.Helper()
	ctx := context.Background()
	var rc runContent
	var err error
	if rc.digest, err = s.Digest(ctx, id); err != nil {
		t.Fatal(err)
	}
	rc.payables = readPayables(t, s, id)
	if err := s.EachReceivable(ctx, id, func(customerID string, c *billing.ReceivableCharge) error {
		rc.receivables = append(rc.receivables, customerID)
		rc.charges = append(rc.charges, *c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rc
}

// A ledger written with the schema before 0006 (charge tables in API order
// with an order index) migrates to the clustered tables with every run
// reading back the same: same digest, same lines in the same order.
func TestMigrateChargesClustered(t *testing.T) {
	ctx := context.Background()
	path := dbtest.DB(t)
	old := mustOpenPath(t, path, Options{migrateThrough: "0005_amendments.sql"})
	ids := []int64{storeRun(t, old, 0, nil), storeRun(t, old, 3, nil)}
	ids = append(ids, storeTiedRun(t, old, false), storeTiedRun(t, old, true))
	for _, id := range ids {
		objectDetails(t, old, id, 1) // the detail form of that schema (before 0008)
	}
	if old.Backend() == "sqlite" {
		if n := objectCount(t, old, "payable_charges_order"); n != 1 {
			t.Fatalf("old schema: payable_charges_order count %d", n)
		}
	}
	before := map[int64]runContent{}
	for _, id := range ids {
		before[id] = readRun(t, old, id)
	}
	if before[ids[0]].digest != before[ids[1]].digest || before[ids[2]].digest != before[ids[3]].digest {
		t.Fatal("old schema: the same data stored in another order has another digest")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpenPath(t, path, Options{})
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	if !applied["0006_charges_clustered.sql"] || !applied["0008_detail_positional.sql"] {
		t.Fatalf("0006 or 0008 not applied: %v", applied)
	}
	if s.Backend() == "sqlite" {
		for _, name := range []string{"payable_charges_order", "receivable_charges_order"} {
			if n := objectCount(t, s, name); n != 0 {
				t.Errorf("index %s still there after 0006", name)
			}
		}
		for _, table := range []string{"payable_charges", "receivable_charges"} {
			var sql string
			if err := s.db.Get(&sql, "SELECT sql FROM sqlite_master WHERE name = ?", table); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sql, "WITHOUT ROWID") {
				t.Errorf("%s is not clustered after 0006: %s", table, sql)
			}
		}
	}
	for _, id := range ids {
		got := readRun(t, s, id)
		want := before[id]
		if got.digest != want.digest {
			t.Errorf("run %d: digest %s after migrating, %s before", id, got.digest, want.digest)
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
	// The reader's order of the ties is the ORDER BY of 0001 (SQLite sorting
	// every column), checked independently of the reader.
	if s.Backend() == "sqlite" {
		for _, id := range ids[2:] {
			checkCanonicalOrder(t, s, id)
		}
	}
	// Runs written after the migration read back as those written before.
	for i, id := range []int64{storeRun(t, s, 0, nil), storeTiedRun(t, s, true)} {
		got, want := readRun(t, s, id), before[ids[2*i]]
		if objects, _ := detailForms(t, s, id); objects != 0 {
			t.Errorf("run %d written after 0008: %d lines with the object detail", id, objects)
		}
		if got.digest != want.digest {
			t.Errorf("run %d written after 0006: digest %s, %s before", id, got.digest, want.digest)
		}
		for _, d := range diff(want.payables, got.payables) {
			t.Errorf("run %d written after 0006, payables: %s", id, d)
		}
		for _, d := range diff(want.charges, got.charges) {
			t.Errorf("run %d written after 0006, receivables: %s", id, d)
		}
	}
}

func objectCount(t *testing.T, s *Store, name string) int {
	t.Helper()
	var n int
	if err := s.db.Get(&n, "SELECT count(*) FROM sqlite_master WHERE name = ?", name); err != nil {
		t.Fatal(err)
	}
	return n
}

func text(d decimal.NullDecimal) string {
	if !d.Valid {
		return "NULL"
	}
	return billing.Text(d.Decimal)
}

// checkCanonicalOrder compares the order EachPayable and EachReceivable yield
// with the full ORDER BY of 0001 run by SQLite itself.
func checkCanonicalOrder(t *testing.T, s *Store, id int64) {
	t.Helper()
	var want []string
	if err := s.db.Select(&want, `SELECT COALESCE(sub_total, 'NULL') || '|' || COALESCE(quantity, 'NULL') || '|' || CASE json_type(detail) WHEN 'array' THEN json_extract(detail, '$[3]') ELSE json_extract(detail, '$.chargeName') END
		FROM payable_charges WHERE run_id = ?
		ORDER BY run_id, customer_key, sku, charge_type, period_from, period_to, currency, charge_id, sub_total, quantity, content_hash`, id); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range readPayables(t, s, id) {
		got = append(got, text(c.SubTotal)+"|"+text(c.Quantity)+"|"+c.ChargeName)
	}
	for _, d := range diff(want, got) {
		t.Errorf("run %d: payable order: %s", id, d)
	}
	want = nil
	if err := s.db.Select(&want, `SELECT COALESCE(cost_price_prorated, 'NULL') || '|' || COALESCE(quantity, 'NULL') || '|' || CASE json_type(detail) WHEN 'array' THEN json_extract(detail, '$[2]') ELSE json_extract(detail, '$.chargeName') END
		FROM receivable_charges WHERE run_id = ?
		ORDER BY run_id, customer_id, sku, charge_type, period_from, period_to, currency, charge_id, cost_price_prorated, quantity, content_hash`, id); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, c := range readRun(t, s, id).charges {
		got = append(got, text(c.CostPriceProrated)+"|"+text(c.Quantity)+"|"+c.ChargeName)
	}
	for _, d := range diff(want, got) {
		t.Errorf("run %d: receivable order: %s", id, d)
	}
}

// A ledger written with the schema before 0009 (subscriptions in API order
// with an order index) migrates to the clustered table with every customer's
// subscriptions reading back the same, in the same order, and the same
// digest; subscriptions stored after the migration read back as before.
func TestMigrateSubscriptionsClustered(t *testing.T) {
	ctx := context.Background()
	path := dbtest.DB(t)
	mk := func(i int, sid, product string) billing.Subscription {
		sub := sampleSubscription(i)
		sub.ID, sub.ProductName = sid, product
		return sub
	}
	// Ids out of order, two subscriptions with one id and different contents
	// (in both orders), an exact duplicate, and a customer with none.
	cases := map[string][]billing.Subscription{
		"cust-a": {mk(0, "sub-c", "C"), mk(1, "Sub-b", "B"), mk(2, "sub-a", "A")},
		"cust-b": {mk(0, "sub-x", "First"), mk(1, "sub-x", "Second"), mk(2, "sub-w", "W"), mk(0, "sub-x", "First")},
		"cust-c": {mk(1, "sub-x", "Second"), mk(0, "sub-x", "First"), mk(2, "sub-w", "W")},
		"cust-d": nil,
	}
	customers := slices.Sorted(maps.Keys(cases))
	store := func(s *Store) int64 {
		id := mustBeginRun(t, s)
		for _, c := range customers {
			saveCustomerWithData(t, s, id, c, billing.CoverageAvailable, nil, cases[c])
		}
		return id
	}
	type content struct {
		digest string
		subs   map[string][]billing.Subscription
	}
	read := func(s *Store, id int64) content {
		digest, err := s.Digest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c := content{digest: digest, subs: map[string][]billing.Subscription{}}
		for _, customer := range customers {
			if c.subs[customer], err = s.Subscriptions(ctx, id, customer); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	same := func(what string, got, want content) {
		t.Helper()
		if got.digest != want.digest {
			t.Errorf("%s: digest %s, %s before", what, got.digest, want.digest)
		}
		for _, customer := range customers {
			if len(got.subs[customer]) != len(want.subs[customer]) {
				t.Errorf("%s, %s: %d subscriptions, %d before", what, customer, len(got.subs[customer]), len(want.subs[customer]))
				continue
			}
			for _, d := range diff(want.subs[customer], got.subs[customer]) {
				t.Errorf("%s, %s: %s", what, customer, d)
			}
		}
	}

	old := mustOpenPath(t, path, Options{migrateThrough: "0008_detail_positional.sql"})
	oldID := store(old)
	before := read(old, oldID)
	if len(before.subs["cust-b"]) != 4 || before.subs["cust-b"][0].ID != "sub-w" {
		t.Fatalf("old schema: cust-b read back as %+v", before.subs["cust-b"])
	}
	if old.Backend() == "sqlite" {
		if n := objectCount(t, old, "subscriptions_order"); n != 1 {
			t.Fatalf("old schema: subscriptions_order count %d", n)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpenPath(t, path, Options{})
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	if !applied["0009_subscriptions_clustered.sql"] {
		t.Fatalf("0009 not applied: %v", applied)
	}
	if s.Backend() == "sqlite" {
		if n := objectCount(t, s, "subscriptions_order"); n != 0 {
			t.Error("index subscriptions_order still there after 0009")
		}
		var sql string
		if err := s.db.Get(&sql, "SELECT sql FROM sqlite_master WHERE name = 'subscriptions'"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sql, "WITHOUT ROWID") {
			t.Errorf("subscriptions not clustered after 0009: %s", sql)
		}
	}
	same("migrated run", read(s, oldID), before)
	same("run written after 0009", read(s, store(s)), before)
	// The foreign key to customer_coverage still holds.
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO subscriptions (run_id, customer_id, line_no, id,
		product_name, description, sku, quantity, billing_cycle, purchase_date, fees, commitment_term, content_hash)
		VALUES (?, 'no-such-customer', 1, 'x', 'p', 'd', 's', NULL, 'monthly', '2026-10-01', NULL, NULL, 'h')`), oldID); err == nil {
		t.Error("a subscription of a customer without coverage was stored")
	}
}
