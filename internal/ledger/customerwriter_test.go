package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestCustomerWriter(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	var cs []billing.Customer
	for i := 0; i < 150; i++ {
		cs = append(cs, billing.Customer{ID: fmt.Sprintf("c%03d", i)})
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(cs); i += 4 {
				d := CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
					Receivables:   []billing.ReceivableCharge{sampleReceivable(i), sampleReceivable(i + 1)},
					Subscriptions: []billing.Subscription{sampleSubscription(i)}}
				if i%10 == 0 {
					d = CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageFetchFailed, Error: "503"}
				}
				if err := w.Save(d); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if w.Saved() != int64(len(cs)) {
		t.Fatalf("Saved = %d, want %d", w.Saved(), len(cs))
	}
	if err := w.Save(CustomerData{CustomerID: "c000", Coverage: billing.CoverageAvailable}); err == nil {
		t.Fatal("Save after Close succeeded")
	}
	cov, err := s.Coverage(ctx, id)
	if err != nil || len(cov) != len(cs) {
		t.Fatalf("coverage rows = %d (%v), want %d", len(cov), err, len(cs))
	}
	if _, n, err := s.Counts(ctx, id); err != nil || n != 2*(len(cs)-15) {
		t.Fatalf("receivable lines = %d, %v; want %d", n, err, 2*(len(cs)-15))
	}
	// Same rows as SaveCustomerData one by one would have stored.
	id2 := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	if err := s.SaveCustomers(ctx, id2, cs); err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		d := CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
			Receivables:   []billing.ReceivableCharge{sampleReceivable(i), sampleReceivable(i + 1)},
			Subscriptions: []billing.Subscription{sampleSubscription(i)}}
		if i%10 == 0 {
			d = CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageFetchFailed, Error: "503"}
		}
		if err := s.SaveCustomerData(ctx, id2, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []int64{id, id2} {
		if err := s.FinishRun(ctx, run, billing.RunPartial, RunStats{}, "", t0); err != nil {
			t.Fatal(err)
		}
	}
	d1 := mustDigest(t, s, id)
	if d2, err := s.Digest(ctx, id2); err != nil || d1 != d2 {
		t.Fatalf("digest with the writer %s, one by one %s (%v)", d1, d2, err)
	}
}

// An error (here a customer not in the run's list) is returned by a later
// Save or by Close, and nothing of that customer is stored.
func TestCustomerWriterError(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	if err := w.Save(CustomerData{CustomerID: "a", Coverage: "maybe"}); err == nil || !strings.Contains(err.Error(), "invalid coverage") {
		t.Fatalf("Save with an invalid coverage = %v", err)
	}
	_ = w.Save(CustomerData{CustomerID: "zzz", Coverage: billing.CoverageAvailable, Period: october,
		Receivables: []billing.ReceivableCharge{sampleReceivable(0)}})
	err := w.Close()
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") || !strings.Contains(err.Error(), "zzz") {
		t.Fatalf("Close = %v, want the foreign key error naming customer zzz", err)
	}
	var n int
	if err := s.db.Get(&n, "SELECT COUNT(*) FROM receivable_charges"); err != nil || n != 0 {
		t.Fatalf("%d receivable lines stored (%v), want 0", n, err)
	}
	// The write lock is free.
	if err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "b", Coverage: billing.CoverageAvailable, Period: october}); err != nil {
		t.Fatal(err)
	}
}

// A cancelled context stops the writer; Close reports it.
func TestCustomerWriterCancelled(t *testing.T) {
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	if err := s.SaveCustomers(context.Background(), id, []billing.Customer{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := s.NewCustomerWriter(ctx, id)
	cancel()
	serr := w.Save(CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october})
	if cerr := w.Close(); serr == nil && cerr == nil {
		t.Fatal("Save and Close after cancel succeeded, want the context error")
	}
	if cov, err := s.Coverage(context.Background(), id); err != nil || len(cov) != 0 {
		t.Fatalf("coverage = %v (%v), want none", cov, err)
	}
}

// OnCommit's function gets every committed customer once, in the order
// they were saved, from a goroutine of its own: the writer goes on
// committing while it runs, and Close returns after its last call. A
// customer whose transaction failed is never passed.
func TestCustomerWriterOnCommit(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	var cs []billing.Customer
	for i := range 200 {
		cs = append(cs, billing.Customer{ID: fmt.Sprintf("c%03d", i)})
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	var (
		passed     []string
		calls      int
		overlapped bool
	)
	w.OnCommit(func(ds []*CustomerData) {
		calls++
		if calls == 1 {
			// The writer commits more groups while this call waits.
			first := int64(len(ds))
			deadline := time.Now().Add(20 * time.Second)
			for w.Saved() == first && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			overlapped = w.Saved() > first
		}
		for _, d := range ds {
			passed = append(passed, d.CustomerID)
		}
	})
	var saved []string
	for i := range 150 {
		d := CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
			Receivables: []billing.ReceivableCharge{sampleReceivable(i)}, Subscriptions: []billing.Subscription{sampleSubscription(i)}}
		if err := w.Save(d); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, d.CustomerID)
	}
	// A customer outside the run's list fails its transaction; what comes
	// after it is not stored either.
	_ = w.Save(CustomerData{CustomerID: "zzz", Coverage: billing.CoverageAvailable, Period: october})
	for i := 150; i < len(cs); i++ {
		if w.Save(CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october}) != nil {
			break
		}
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "zzz") {
		t.Fatalf("Close = %v, want the error of customer zzz", err)
	}
	// Close returned: every call was made (no more come).
	if !overlapped {
		t.Fatal("the writer waited for OnCommit's function")
	}
	cov, err := s.Coverage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(cov) != len(passed) || int64(len(passed)) != w.Saved() || len(passed) > len(saved) {
		t.Fatalf("passed %d customers, the ledger has %d, Saved = %d", len(passed), len(cov), w.Saved())
	}
	for i, c := range passed {
		if c != saved[i] || cov[i].CustomerID != c {
			t.Fatalf("customer %d passed is %s, saved %s, stored %s", i, c, saved[i], cov[i].CustomerID)
		}
	}
}
