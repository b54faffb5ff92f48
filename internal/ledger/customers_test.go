package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// saveCustomerWithData saves one customer and its data in run id.
func saveCustomerWithData(tb testing.TB, s *Store, id int64, customerID string, cov billing.Coverage, recv []billing.ReceivableCharge, subs []billing.Subscription) {
	tb.Helper()
	ctx := context.Background()
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: customerID, DisplayName: "Name " + customerID}}); err != nil {
		tb.Fatal(err)
	}
	d := CustomerData{CustomerID: customerID, Coverage: cov, Period: october, Receivables: recv, Subscriptions: subs}
	if cov == billing.CoverageFetchFailed {
		d.Period, d.Error = billing.Period{}, "fetch failed: 503"
	}
	if err := s.SaveCustomerData(ctx, id, d); err != nil {
		tb.Fatal(err)
	}
}

func TestCustomersRoundTrip(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	in := []billing.Customer{
		{ID: "c-2", DisplayName: "Zeta", Path: []string{"reseller", "sub"}, SuspendedOn: "2026-09-01T00:00:00Z"},
		{ID: "c-1", DisplayName: "Alpha"},
		{ID: "c-3", DisplayName: "Beta", Path: []string{}},
	}
	if err := s.SaveCustomers(ctx, id, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Customers(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []billing.Customer{in[1], in[0], in[2]}
	for _, d := range diff(want, got) {
		t.Error(d)
	}

	for name, cs := range map[string][]billing.Customer{
		"duplicate id": {{ID: "x"}, {ID: "x"}},
		"empty id":     {{ID: " ", DisplayName: "nobody"}},
	} {
		other := mustBeginRun(t, s)
		if err := s.SaveCustomers(ctx, other, cs); err == nil {
			t.Errorf("SaveCustomers(%s) succeeded", name)
		}
		if got, _ := s.Customers(ctx, other); len(got) != 0 {
			t.Errorf("SaveCustomers(%s) stored %d customers", name, len(got))
		}
	}
}

func TestSaveCustomerData(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "b"}, {ID: "a"}, {ID: "c"}, {ID: "d"}}); err != nil {
		t.Fatal(err)
	}
	recvA := []billing.ReceivableCharge{sampleReceivable(3), sampleReceivable(1), sampleReceivable(2), sampleReceivable(0)}
	recvB := []billing.ReceivableCharge{sampleReceivable(5)}
	subsA := []billing.Subscription{sampleSubscription(2), sampleSubscription(1)}
	data := []CustomerData{
		{CustomerID: "b", Coverage: billing.CoverageAvailable, Period: october, Receivables: recvB, SubscriptionsError: "subs: 500"},
		{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october, Receivables: recvA, Subscriptions: subsA},
		{CustomerID: "c", Coverage: billing.CoveragePeriodDiffers, Error: "period differs", Period: billing.Period{From: "2026-09-01", To: "2026-09-30"},
			Receivables: []billing.ReceivableCharge{sampleReceivable(9)}},
		{CustomerID: "d", Coverage: billing.CoverageFetchFailed, Error: "fetch receivables for customer d: 503",
			Receivables: []billing.ReceivableCharge{sampleReceivable(7)}}, // must not be stored
	}
	for _, d := range data {
		if err := s.SaveCustomerData(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}

	cov, err := s.Coverage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantCov := []CustomerCoverage{
		{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october},
		{CustomerID: "b", Coverage: billing.CoverageAvailable, Period: october},
		{CustomerID: "c", Coverage: billing.CoveragePeriodDiffers, Error: "period differs", Period: billing.Period{From: "2026-09-01", To: "2026-09-30"}},
		{CustomerID: "d", Coverage: billing.CoverageFetchFailed, Error: "fetch receivables for customer d: 503"},
	}
	for _, d := range diff(wantCov, cov) {
		t.Error(d)
	}

	// EachReceivable: only available customers, by customer then business columns.
	type line struct {
		customer string
		c        *billing.ReceivableCharge
	}
	var got []line
	if err := s.EachReceivable(ctx, id, func(cid string, c *billing.ReceivableCharge) error {
		got = append(got, line{cid, c})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("EachReceivable yielded %d lines, want 5 (4 of a, 1 of b)", len(got))
	}
	for i, l := range got[:4] {
		if l.customer != "a" {
			t.Fatalf("line %d of customer %s, want a", i, l.customer)
		}
	}
	if got[4].customer != "b" {
		t.Fatalf("last line of customer %s, want b", got[4].customer)
	}
	byID := map[string]billing.ReceivableCharge{}
	for _, r := range append(recvA, recvB...) {
		byID[r.ChargeID] = r
	}
	for i, l := range got {
		want := byID[l.c.ChargeID]
		for _, d := range diff(want, *l.c) {
			t.Errorf("line %d: %s", i, d)
		}
		if i > 0 && got[i-1].customer == l.customer && got[i-1].c.SKU > l.c.SKU {
			t.Errorf("lines %d and %d out of sku order", i-1, i)
		}
	}

	pay, recv, err := s.Counts(ctx, id)
	if err != nil || pay != 0 || recv != 5 {
		t.Fatalf("Counts = %d, %d, %v; want 0, 5", pay, recv, err)
	}
	var stored int
	if err := s.db.Get(&stored, s.db.Rebind("SELECT COUNT(*) FROM receivable_charges WHERE run_id = ?"), id); err != nil || stored != 6 {
		t.Fatalf("stored receivable lines = %d (%v), want 6 (period_differs kept, fetch_failed dropped)", stored, err)
	}

	subs, err := s.Subscriptions(ctx, id, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diff([]billing.Subscription{subsA[1], subsA[0]}, subs) {
		t.Error(d)
	}
	if subs, err := s.Subscriptions(ctx, id, "b"); err != nil || len(subs) != 0 {
		t.Fatalf("Subscriptions(b) = %v, %v; want none", subs, err)
	}
	var subsErr string
	if err := s.db.Get(&subsErr, s.db.Rebind("SELECT subscriptions_error FROM customer_coverage WHERE run_id = ? AND customer_id = 'b'"), id); err != nil || subsErr != "subs: 500" {
		t.Fatalf("subscriptions_error = %q (%v)", subsErr, err)
	}
}

func TestSaveCustomerDataRejects(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    CustomerData
		want string
	}{
		{"unknown customer (foreign key)", CustomerData{CustomerID: "zzz", Coverage: billing.CoverageAvailable}, "FOREIGN KEY"},
		{"invalid coverage", CustomerData{CustomerID: "a", Coverage: "maybe"}, "invalid coverage"},
		{"empty id", CustomerData{Coverage: billing.CoverageAvailable}, "empty customer id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SaveCustomerData(ctx, id, tt.d)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.want)) { // "FOREIGN KEY" (SQLite), "foreign key" (PostgreSQL)
				t.Fatalf("SaveCustomerData = %v, want error containing %q", err, tt.want)
			}
		})
	}
	if err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october}); err == nil {
		t.Fatal("saving a customer's data twice succeeded")
	}
}

func TestSaveCustomerDataAllOrNothing(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		stage string
		fail  func(cancel context.CancelFunc) error
	}{
		{"error after receivables", stageReceivables, func(context.CancelFunc) error { return boom }},
		{"error after subscriptions", stageSubscriptions, func(context.CancelFunc) error { return boom }},
		{"context cancelled after coverage", stageCoverage, func(cancel context.CancelFunc) error { cancel(); return nil }},
		{"context cancelled after subscriptions", stageSubscriptions, func(cancel context.CancelFunc) error { cancel(); return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpen(t)
			id := mustBeginRun(t, s)
			if err := s.SaveCustomers(context.Background(), id, []billing.Customer{{ID: "a"}}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.testHook = func(_ context.Context, stage string) error {
				if stage == tt.stage {
					return tt.fail(cancel)
				}
				return nil
			}
			err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october,
				Receivables:   []billing.ReceivableCharge{sampleReceivable(0), sampleReceivable(1)},
				Subscriptions: []billing.Subscription{sampleSubscription(0)}})
			if err == nil {
				t.Fatal("SaveCustomerData succeeded despite the failure")
			}
			s.testHook = nil
			for table, q := range map[string]string{
				"customer_coverage":  "SELECT COUNT(*) FROM customer_coverage",
				"receivable_charges": "SELECT COUNT(*) FROM receivable_charges",
				"subscriptions":      "SELECT COUNT(*) FROM subscriptions",
			} {
				var n int
				if err := s.db.Get(&n, q); err != nil || n != 0 {
					t.Errorf("%s has %d rows (%v) after a failed save, want 0", table, n, err)
				}
			}
			// The store is usable again and the same save now works.
			if err := s.SaveCustomerData(context.Background(), id, CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october,
				Receivables: []billing.ReceivableCharge{sampleReceivable(0)}}); err != nil {
				t.Fatalf("save after the failure: %v", err)
			}
		})
	}
}

func TestSaveCustomerDataConcurrent(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	var cs []billing.Customer
	for i := 0; i < 40; i++ {
		cs = append(cs, billing.Customer{ID: fmt.Sprintf("c%02d", i)})
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.SaveCustomerData(ctx, id, CustomerData{CustomerID: c.ID, Coverage: billing.CoverageAvailable, Period: october,
				Receivables: []billing.ReceivableCharge{sampleReceivable(i), sampleReceivable(i + 1)}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, n, err := s.Counts(ctx, id); err != nil || n != 80 {
		t.Fatalf("receivable lines = %d, %v; want 80", n, err)
	}
}

// storeRun stores a whole run (payables, customers, data) with its lines in
// the given permutation; it returns the run id.
func storeRun(tb testing.TB, s *Store, seed uint64, mutate func(*billing.PayableCharge)) int64 {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed+1))
	var pay []*billing.PayableCharge
	for i := 0; i < 120; i++ {
		c := samplePayable(i)
		if mutate != nil {
			mutate(c)
		}
		pay = append(pay, c)
	}
	if seed != 0 {
		r.Shuffle(len(pay), func(i, j int) { pay[i], pay[j] = pay[j], pay[i] })
	}
	id := storePayables(tb, s, pay)
	var customers []billing.Customer
	for i := 0; i < 6; i++ {
		customers = append(customers, billing.Customer{ID: fmt.Sprintf("cust-%02d", i), DisplayName: fmt.Sprintf("Customer %d", i)})
	}
	if seed != 0 {
		r.Shuffle(len(customers), func(i, j int) { customers[i], customers[j] = customers[j], customers[i] })
	}
	if err := s.SaveCustomers(ctx, id, customers); err != nil {
		tb.Fatal(err)
	}
	for _, c := range customers {
		var n int
		if _, err := fmt.Sscanf(c.ID, "cust-%d", &n); err != nil {
			tb.Fatal(err)
		}
		d := CustomerData{CustomerID: c.ID, Coverage: billing.CoverageAvailable, Period: october}
		for k := 0; k < 5; k++ {
			d.Receivables = append(d.Receivables, sampleReceivable(n*10+k))
		}
		for k := 0; k < 3; k++ {
			d.Subscriptions = append(d.Subscriptions, sampleSubscription(n*10+k))
		}
		switch n {
		case 4:
			d.Coverage, d.Error = billing.CoveragePeriodDiffers, fmt.Sprintf("differs (attempt %d)", seed)
		case 5:
			d.Coverage, d.Error, d.Period, d.Receivables = billing.CoverageFetchFailed, fmt.Sprintf("503 request id %d", seed), billing.Period{}, nil
		}
		if seed != 0 {
			r.Shuffle(len(d.Receivables), func(i, j int) { d.Receivables[i], d.Receivables[j] = d.Receivables[j], d.Receivables[i] })
			r.Shuffle(len(d.Subscriptions), func(i, j int) { d.Subscriptions[i], d.Subscriptions[j] = d.Subscriptions[j], d.Subscriptions[i] })
		}
		if err := s.SaveCustomerData(ctx, id, d); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.FinishRun(ctx, id, billing.RunPartial, RunStats{Calls: int64(seed)}, "partial", t0); err != nil {
		tb.Fatal(err)
	}
	return id
}

// EachCustomerSubscriptions gives each customer's subscriptions as
// Subscriptions does, customers in id order, once each, only those that
// have some, in one read (of more than one batch of rows).
func TestEachCustomerSubscriptions(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	ids := []string{"c-9", "c-10", "c-2", "C-3", "c-empty"}
	n := 0
	for k, c := range ids {
		var subs []billing.Subscription
		if c != "c-empty" {
			for range 90 + 40*k { // 90..250 a customer, 850 in all: several read batches
				subs = append(subs, sampleSubscription(n))
				n++
			}
			subs[0].Quantity = decimal.NullDecimal{} // a null quantity
		}
		saveCustomerWithData(t, s, id, c, billing.CoverageAvailable, nil, subs)
	}
	var got []string
	if err := s.EachCustomerSubscriptions(ctx, id, func(customerID string, subs []billing.Subscription) error {
		got = append(got, customerID)
		want, err := s.Subscriptions(ctx, id, customerID)
		if err != nil {
			return err
		}
		if len(subs) == 0 || !reflect.DeepEqual(subs, want) {
			t.Errorf("customer %s: %d subscriptions, want %d as Subscriptions reads them", customerID, len(subs), len(want))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"C-3", "c-10", "c-2", "c-9"}; !slices.Equal(got, want) { // byte order; c-empty has none
		t.Fatalf("customers %v, want %v", got, want)
	}
	stop := errors.New("stop")
	calls := 0
	err := s.EachCustomerSubscriptions(ctx, id, func(string, []billing.Subscription) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("fn's error at the 2nd customer: %v after %d calls, want it returned at once", err, calls)
	}
}
