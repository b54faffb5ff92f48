package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// storePayables stores charges in a new committed run and returns its id.
// storeSamplePayables stores n samplePayable lines in a new run of s (the
// read benchmarks' ledger) and returns the run's id.
func storeSamplePayables(tb testing.TB, s *Store, n int) int64 {
	tb.Helper()
	cs := make([]*billing.PayableCharge, n)
	for i := range cs {
		cs[i] = samplePayable(i)
	}
	return storePayables(tb, s, cs)
}

func storePayables(tb testing.TB, s *Store, cs []*billing.PayableCharge) int64 {
	tb.Helper()
	ctx := context.Background()
	id := mustBeginRun(tb, s)
	b, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Rollback()
	for _, c := range cs {
		if err := b.Add(c); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		tb.Fatal(err)
	}
	return id
}

func readPayables(tb testing.TB, s *Store, runID int64) []*billing.PayableCharge {
	tb.Helper()
	var out []*billing.PayableCharge
	if err := s.EachPayable(context.Background(), runID, func(c *billing.PayableCharge) error {
		out = append(out, c)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestPayableRoundTrip(t *testing.T) {
	s := MustOpen(t)
	tests := []struct {
		name string
		c    *billing.PayableCharge
	}{
		{"exact amounts keep their text", &billing.PayableCharge{
			ChargeID: "a", SKU: "X", Currency: "USD", Quantity: dec("3"), ListPrice: dec("1843.275"),
			NetPrice: dec("0.000123"), NetPriceProrated: dec("-12.00"), SubTotal: dec("45.00"),
		}},
		{"absent listPrice stays absent", &billing.PayableCharge{
			ChargeID: "b", SKU: "X", Currency: "USD", Quantity: dec("1.0"), SubTotal: dec("0.00"),
		}},
		{"large and tiny", &billing.PayableCharge{
			ChargeID: "c", SKU: "X", Currency: "USD", Quantity: dec("123456789012345678901234567890.123456789"),
			SubTotal: dec("-0.0000000000000000000001"), ListPrice: dec("1e3"), NetPrice: dec("1.5e-3"),
		}},
		{"nested lists, null vs empty", samplePayable(0)},
		{"empty lists", samplePayable(1)},
		{"null lists", samplePayable(2)},
		{"all strings and dates", &billing.PayableCharge{
			ProductID: "p", ProductName: "Prod \"quoted\" \u00e9", SKU: "X", ChargeID: "d", ChargeName: "n",
			ChargeType: "Setup", BillingCycleType: "OneTime", PeriodFrom: "2026-10-01", PeriodTo: "",
			Currency: "CAD", SubTotal: dec("1"), Quantity: dec("1"), IsBilled: ptr(true), IsProratable: ptr(false),
			Invoice:    &billing.Invoice{Number: "I", Date: "", PeriodFrom: "2026-10-01"},
			Deductions: []billing.Deduction{{Code: "x"}}, Fees: []billing.Fee{{Name: "f"}},
			Taxes: []billing.Tax{{Name: "t", AppliedRate: dec("0.150")}},
			Tags:  []billing.Tag{{Name: "", Value: ""}, {Name: "ctl\n\r\t\x01\x1f\x7f", Value: `back\slash "q" <&> \u2028 日本`}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := storePayables(t, s, []*billing.PayableCharge{tt.c})
			got := readPayables(t, s, id)
			if len(got) != 1 {
				t.Fatalf("read %d charges, want 1", len(got))
			}
			for _, d := range diff(tt.c, got[0]) {
				t.Error(d)
			}
		})
	}
}

func TestMoneyColumnsAreText(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1), samplePayable(4), {
		ChargeID: "x", Currency: "USD", Quantity: dec("12.30"), SubTotal: dec("10"), ListPrice: dec("1e2"),
	}})
	saveCustomerWithData(t, s, id, "c1", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(0), sampleReceivable(1)},
		[]billing.Subscription{sampleSubscription(0)})

	checks := map[string][]string{
		"payable_charges":    {"quantity", "sub_total"},
		"receivable_charges": {"quantity", "cost_price", "cost_price_prorated"},
		"subscriptions":      {"quantity"},
	}
	for table, cols := range checks {
		for _, col := range cols {
			var types []string
			if err := s.db.SelectContext(ctx, &types, "SELECT DISTINCT typeof("+col+") FROM "+table); err != nil {
				t.Fatal(err)
			}
			sawText := false
			for _, ty := range types {
				switch ty {
				case "text":
					sawText = true
				case "null":
				default:
					t.Errorf("%s.%s has a value stored as %s, want text", table, col, ty)
				}
			}
			if !sawText {
				t.Errorf("%s.%s: no text value stored (types %v)", table, col, types)
			}
		}
	}
	// No column of any table has REAL or NUMERIC affinity.
	for _, table := range []string{"runs", "payable_charges", "customers", "customer_coverage", "receivable_charges", "subscriptions"} {
		var cols []struct {
			CID     int     `db:"cid"`
			Name    string  `db:"name"`
			Type    string  `db:"type"`
			NotNull int     `db:"notnull"`
			Default *string `db:"dflt_value"`
			PK      int     `db:"pk"`
		}
		if err := s.db.SelectContext(ctx, &cols, "PRAGMA table_info("+table+")"); err != nil {
			t.Fatal(err)
		}
		if len(cols) == 0 {
			t.Fatalf("table %s has no columns", table)
		}
		for _, c := range cols {
			if c.Type != "TEXT" && c.Type != "INTEGER" {
				t.Errorf("%s.%s is declared %q, want TEXT or INTEGER", table, c.Name, c.Type)
			}
		}
	}
	// And the stored text is the exact text.
	var q string
	if err := s.db.GetContext(ctx, &q, "SELECT quantity FROM payable_charges WHERE charge_id = 'x'"); err != nil || q != "12.30" {
		t.Fatalf("stored quantity = %q (%v), want \"12.30\"", q, err)
	}
}

func TestPayableBatchReset(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	b, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Add(samplePayable(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 12; i++ {
		if err := b.Add(samplePayable(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
	got := readPayables(t, s, id)
	if len(got) != 2 {
		t.Fatalf("after Reset and 2 Adds, %d lines stored, want 2", len(got))
	}
	for _, c := range got {
		if c.ChargeID != "charge-000010" && c.ChargeID != "charge-000011" {
			t.Errorf("line %s staged before Reset survived", c.ChargeID)
		}
	}
	var lineNos []int
	if err := s.db.Select(&lineNos, s.db.Rebind("SELECT line_no FROM payable_charges WHERE run_id = ? ORDER BY line_no"), id); err != nil {
		t.Fatal(err)
	}
	if len(lineNos) != 2 || lineNos[0] != 1 || lineNos[1] != 2 {
		t.Errorf("line numbers after Reset = %v, want [1 2]", lineNos)
	}
}

func TestPayableBatchRollback(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	b, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(samplePayable(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(); err != nil {
		t.Fatalf("second Rollback: %v", err)
	}
	if err := b.Add(samplePayable(2)); err == nil {
		t.Fatal("Add after Rollback succeeded")
	}
	if err := b.Commit(october); err == nil {
		t.Fatal("Commit after Rollback succeeded")
	}
	if n, _, err := s.Counts(ctx, id); err != nil || n != 0 {
		t.Fatalf("Counts after Rollback = %d, %v; want 0", n, err)
	}
	run, err := s.Run(ctx, id)
	if err != nil || run.Period != (billing.Period{}) {
		t.Fatalf("run period after Rollback = %v (%v), want empty", run.Period, err)
	}
	// The write lock was released: a new batch (and other writes) work.
	b2, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatalf("NewPayableBatch after Rollback: %v", err)
	}
	if err := b2.Commit(october); err != nil {
		t.Fatal(err)
	}
	if err := b2.Rollback(); err != nil {
		t.Fatalf("Rollback after Commit: %v", err)
	}
	if err := b2.Add(samplePayable(3)); err == nil {
		t.Fatal("Add after Commit succeeded")
	}
	if _, err := s.NewPayableBatch(ctx, id); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Fatalf("second batch on a committed run = %v, want 'already has' error", err)
	}
}

func TestPayableBatchInvisibleUntilCommit(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	b := mustPayableBatch(t, s, id)
	for i := 0; i < 50; i++ {
		if err := b.Add(samplePayable(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Another reader (another connection) sees nothing of the open batch.
	r := mustOpenPath(t, s.Path(), Options{ReadOnly: true})
	for _, st := range []*Store{s, r} {
		if n, _, err := st.Counts(ctx, id); err != nil || n != 0 {
			t.Fatalf("Counts during the batch = %d, %v; want 0", n, err)
		}
		if got := readPayables(t, st, id); len(got) != 0 {
			t.Fatalf("EachPayable during the batch read %d lines", len(got))
		}
		if run, err := st.Run(ctx, id); err != nil || run.Period != (billing.Period{}) {
			t.Fatalf("run period during the batch = %v (%v)", run.Period, err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
	if n, _, err := r.Counts(ctx, id); err != nil || n != 50 {
		t.Fatalf("Counts after Commit = %d, %v; want 50", n, err)
	}
	if run, err := r.Run(ctx, id); err != nil || run.Period != october {
		t.Fatalf("run period after Commit = %v (%v), want %v", run.Period, err, october)
	}
}

func TestPayableCommitAtomicWithPeriod(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	b, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(samplePayable(1)); err != nil {
		t.Fatal(err)
	}
	// An invalid period fails the commit: neither lines nor period are stored.
	if err := b.Commit(billing.Period{From: "2026-10-31", To: "2026-10-01"}); err == nil {
		t.Fatal("Commit with an inverted period succeeded")
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Counts(ctx, id); n != 0 {
		t.Fatalf("%d lines stored by a failed commit", n)
	}
	if run, _ := s.Run(ctx, id); run.Period != (billing.Period{}) {
		t.Fatalf("period %v stored by a failed commit", run.Period)
	}
	// A batch on a run that is no longer running is refused.
	if err := s.FinishRun(ctx, id, billing.RunFailed, RunStats{}, "boom", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewPayableBatch(ctx, id); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("NewPayableBatch on a failed run = %v, want 'not running'", err)
	}
	if _, err := s.NewPayableBatch(ctx, 9999); err == nil {
		t.Fatal("NewPayableBatch on a missing run succeeded")
	}
}

func TestPayableBatchCancelledContext(t *testing.T) {
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(samplePayable(1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.Add(samplePayable(2)); err == nil {
		t.Error("Add after cancel succeeded")
	}
	if err := b.Commit(october); err == nil {
		t.Error("Commit after cancel succeeded")
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Counts(context.Background(), id); n != 0 {
		t.Fatalf("%d lines stored by a cancelled batch", n)
	}
	// The lock is free again.
	if err := s.FinishRun(context.Background(), id, billing.RunFailed, RunStats{}, "interrupted", t0); err != nil {
		t.Fatal(err)
	}
}

func TestEachPayableOrderIndependentOfInsertOrder(t *testing.T) {
	s := MustOpen(t)
	var cs []*billing.PayableCharge
	for i := 0; i < 300; i++ {
		cs = append(cs, samplePayable(i))
	}
	// Exact duplicates and lines differing only in a late column.
	dup := *samplePayable(7)
	cs = append(cs, &dup)
	sameKey := *samplePayable(8)
	sameKey.ChargeName = "other name"
	cs = append(cs, &sameKey)

	shuffled := append([]*billing.PayableCharge(nil), cs...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	reversed := make([]*billing.PayableCharge, len(cs))
	for i, c := range cs {
		reversed[len(cs)-1-i] = c
	}

	a := readPayables(t, s, storePayables(t, s, cs))
	for name, order := range map[string][]*billing.PayableCharge{"shuffled": shuffled, "reversed": reversed} {
		b := readPayables(t, s, storePayables(t, s, order))
		if len(a) != len(cs) || len(b) != len(cs) {
			t.Fatalf("%s: read %d and %d lines, want %d", name, len(a), len(b), len(cs))
		}
		for i := range a {
			if d := diff(a[i], b[i]); len(d) > 0 {
				t.Fatalf("%s: line %d differs: %v", name, i, d)
			}
		}
	}
	// The order follows the business columns.
	key := func(c *billing.PayableCharge) string {
		return strings.Join([]string{customerKey(c.Tags), c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), c.Currency, c.ChargeID}, "\x00")
	}
	for i := 1; i < len(a); i++ {
		if key(a[i-1]) > key(a[i]) {
			t.Fatalf("lines %d and %d out of order: %q > %q", i-1, i, key(a[i-1]), key(a[i]))
		}
	}
}

func TestEachPayableStopsOnCallbackError(t *testing.T) {
	s := MustOpen(t)
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1), samplePayable(2), samplePayable(3)})
	stop := context.Canceled
	n := 0
	err := s.EachPayable(context.Background(), id, func(*billing.PayableCharge) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("EachPayable = %v after %d calls, want the callback's error after 1", err, n)
	}
}

// clusteredRead: a query plan reads the run's range of the table's primary
// key (0006: the table is stored in canonical order up to charge_id) and
// sorts nothing (the reader orders the ties up to charge_id, ties.go).
func clusteredRead(plan, table string) bool {
	return strings.Contains(plan, "SEARCH "+table+" USING PRIMARY KEY (run_id=?)") &&
		!strings.Contains(plan, "TEMP B-TREE")
}

func TestEachPayableUsesIndex(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	var plan []struct {
		ID      int    `db:"id"`
		Parent  int    `db:"parent"`
		NotUsed int    `db:"notused"`
		Detail  string `db:"detail"`
	}
	if err := s.db.Select(&plan, "EXPLAIN QUERY PLAN "+s.q[qEachPayable], 1); err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	joined := strings.Join(details, "; ")
	// The run's customer keys in key order, then each one's range of lines.
	if !clusteredRead(joined, "k") || !strings.Contains(joined, "SEARCH p USING PRIMARY KEY (run_id=? AND customer_ord=?)") ||
		strings.Index(joined, "SEARCH k") > strings.Index(joined, "SEARCH p") {
		t.Fatalf("each_payable plan = %q, want payable_customers' range of the run, then for each customer its range of payable_charges, and no sort", joined)
	}
	plan = nil
	if err := s.db.Select(&plan, "EXPLAIN QUERY PLAN "+s.q[qEachReceivableAvailable], 1); err != nil {
		t.Fatal(err)
	}
	details = nil
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	joined = strings.Join(details, "; ")
	if !clusteredRead(joined, "r") {
		t.Fatalf("each_receivable_available plan = %q, want the run's range of the primary key and no sort", joined)
	}
}

// FuzzMoneyRoundTrip stores any decimal literal as a payable amount and as a
// decimal inside the JSON columns, and checks it reads back Equal with the
// same text.
func FuzzMoneyRoundTrip(f *testing.F) {
	for _, s := range []string{"1843.275", "0.000123", "-12.00", "45.00", "0", "-0.0", "1e3", "1.5E-7",
		"123456789012345678901234567890.123456789", "00012.3400", ".5",
		"999999999999999999", "-999999999999999999.9", "1000000000000000000", "-9223372036854775808", "0.000000000000000000000000001"} {
		f.Add(s)
	}
	s := MustOpen(f)
	f.Fuzz(func(t *testing.T, lit string) {
		d, err := decimal.NewFromString(lit)
		if err != nil {
			t.Skip()
		}
		if e := d.Exponent(); e > 1000 || e < -1000 {
			t.Skip() // text of such values is huge; not money
		}
		if got, want := string(appendDecimal(nil, d)), billing.Text(d); got != want {
			t.Fatalf("appendDecimal(%q) = %q, billing.Text = %q", lit, got, want)
		}
		want := decimal.NullDecimal{Decimal: d, Valid: true}
		c := &billing.PayableCharge{
			ChargeID: "fuzz", Currency: "USD", Quantity: want, SubTotal: want,
			Deductions: []billing.Deduction{{Value: want}},
			Fees:       []billing.Fee{{TotalValue: want}},
			Taxes:      []billing.Tax{{AppliedRate: want}},
		}
		got := readPayables(t, s, storePayables(t, s, []*billing.PayableCharge{c}))
		if len(got) != 1 {
			t.Fatalf("read %d lines", len(got))
		}
		for _, diff := range diff(c, got[0]) {
			t.Errorf("%q: %s", lit, diff)
		}
	})
}

// BenchmarkPayableInsert measures PayableBatch.Add (one transaction,
// prepared statement, index maintained) in rows/s.
func BenchmarkPayableInsert(b *testing.B) {
	s := MustOpen(b)
	ctx := context.Background()
	cs := make([]*billing.PayableCharge, 1000)
	for i := range cs {
		cs[i] = samplePayable(i)
	}
	id := mustBeginRun(b, s)
	batch, err := s.NewPayableBatch(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	defer batch.Rollback()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c := cs[i%len(cs)]
		if err := batch.Add(c); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(october); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	cpu.report(b, b.N)
}

// BenchmarkPayableStream stores a payable stream shaped as the API sends it
// (lines grouped by customer: 200 customers of 100 lines, not in key order)
// in one batch per iteration: client CPU per line.
func BenchmarkPayableStream(b *testing.B) {
	s := MustOpen(b)
	var cs []*billing.PayableCharge
	for c := range 200 {
		cs = append(cs, customerLines(fmt.Sprintf("cust-%03d", c*37%200), c*100, 100)...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s)
	for range b.N {
		storePayables(b, s, cs)
	}
	b.StopTimer()
	cpu.report(b, b.N*len(cs))
}

// BenchmarkEachPayable measures reading back (decoding included) in rows/s.
func BenchmarkEachPayable(b *testing.B) {
	s := MustOpen(b)
	id := storeSamplePayables(b, s, 20000)
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	rows := 0
	for i := 0; i < b.N; i++ {
		if err := s.EachPayable(context.Background(), id, func(*billing.PayableCharge) error {
			rows++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	cpu.report(b, rows)
}

// EachPayableSubTotal reads each payable line's currency and sub_total as
// EachPayable decodes them (null stays null), and names the line and the run
// of a sub_total that is not a decimal.
func TestEachPayableSubTotal(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustPayableRun(t, s, 300, func(i int, c *billing.PayableCharge) {
		if i%37 == 5 {
			c.SubTotal = decimal.NullDecimal{} // stored as NULL
		}
	})
	pair := func(cur string, v decimal.NullDecimal) string {
		if !v.Valid {
			return cur + " null"
		}
		return cur + " " + v.Decimal.String() + " exp " + fmt.Sprint(v.Decimal.Exponent())
	}
	var want, got []string
	for _, c := range readPayables(t, s, id) {
		want = append(want, pair(c.Currency, c.SubTotal))
	}
	if err := s.EachPayableSubTotal(ctx, id, func(cur string, v decimal.NullDecimal) error {
		got = append(got, pair(cur, v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) != 300 || !slices.Equal(got, want) {
		t.Fatalf("EachPayableSubTotal read %d lines, want %d as EachPayable decodes them:\n%v", len(got), len(want), diff(want, got))
	}
	if !slices.ContainsFunc(got, func(p string) bool { return strings.HasSuffix(p, " null") }) {
		t.Fatal("no null sub_total read: the test stores some")
	}

	stop := errors.New("stop")
	if err := s.EachPayableSubTotal(ctx, id, func(string, decimal.NullDecimal) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("an error of fn = %v, want it returned (wrapped)", err)
	}
	if s.Backend() != "sqlite" {
		return // PostgreSQL's sub_total is NUMERIC: it holds no broken text
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE payable_charges SET sub_total = '12,5' WHERE run_id = ? AND line_no = 7", id); err != nil {
		t.Fatal(err)
	}
	err := s.EachPayableSubTotal(ctx, id, func(string, decimal.NullDecimal) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "payable line 7: subTotal") || !strings.Contains(err.Error(), fmt.Sprintf("run %d", id)) {
		t.Fatalf("EachPayableSubTotal over a broken sub_total = %v, want an error naming line 7, subTotal and run %d", err, id)
	}
}
