package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// BenchmarkCustomerWriter measures the customers phase's writes: b.N
// customers of 100 receivable lines and 10 subscriptions each, through a
// CustomerWriter; reports receivable rows/s (subscriptions included in the
// time).
func BenchmarkCustomerWriter(b *testing.B) {
	s := MustOpen(b)
	ctx := context.Background()
	id := storePayables(b, s, []*billing.PayableCharge{samplePayable(1)})
	cs := make([]billing.Customer, b.N)
	for i := range cs {
		cs[i] = billing.Customer{ID: fmt.Sprintf("c%06d", i)}
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		b.Fatal(err)
	}
	recs := make([]billing.ReceivableCharge, 100)
	for i := range recs {
		recs[i] = sampleReceivable(i)
	}
	subs := make([]billing.Subscription, 10)
	for i := range subs {
		subs[i] = sampleSubscription(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s)
	start := time.Now()
	w := s.NewCustomerWriter(ctx, id)
	for i := range cs {
		if err := w.Save(CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
			Receivables: recs, Subscriptions: subs}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(recs))/elapsed.Seconds(), "receivable-rows/s")
	cpu.report(b, b.N*len(recs))
}
