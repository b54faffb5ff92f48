package ledger

import (
	"context"
	"fmt"
	"os"
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
	id, cs := benchCustomers(b, s)
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

// benchCustomers stores a run of one payable line and b.N customers for a
// customer writer benchmark.
func benchCustomers(b *testing.B, s *Store) (int64, []billing.Customer) {
	b.Helper()
	id := storePayables(b, s, []*billing.PayableCharge{samplePayable(1)})
	cs := make([]billing.Customer, b.N)
	for i := range cs {
		cs[i] = billing.Customer{ID: fmt.Sprintf("c%06d", i)}
	}
	if err := s.SaveCustomers(context.Background(), id, cs); err != nil {
		b.Fatal(err)
	}
	return id, cs
}

// simulatorSubscription is sampleSubscription with fees and a commitment term
// shaped as the simulator's (and the API's documentation) are.
func simulatorSubscription(i int) billing.Subscription {
	sub := sampleSubscription(i)
	sub.Fees = &billing.SubscriptionFees{RecurringFee: dec("12.50"), SetupFee: dec("0"), Currency: "Usd"}
	sub.CommitmentTerm = billing.RawJSON(fmt.Sprintf(`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-10-08","quantity":%d}]}`, i%40))
	return sub
}

// BenchmarkSubscriptionWriter measures the subscriptions' share of the
// customers phase: b.N customers of 80 subscriptions each (fees and a
// commitment term on each, as the simulator's) through a CustomerWriter;
// reports the client's CPU per subscription and the ledger's bytes per
// subscription (database and WAL files after the writer closed).
func BenchmarkSubscriptionWriter(b *testing.B) {
	s := MustOpen(b)
	if s.d.postgres() {
		b.Skip("SQLite's file size")
	}
	ctx := context.Background()
	id, cs := benchCustomers(b, s)
	subs := make([]billing.Subscription, 80)
	for i := range subs {
		subs[i] = simulatorSubscription(i)
	}
	size0 := ledgerBytes(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s)
	w := s.NewCustomerWriter(ctx, id)
	for i := range cs {
		if err := w.Save(CustomerData{CustomerID: cs[i].ID, Coverage: billing.CoverageAvailable, Period: october,
			Subscriptions: subs}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.report(b, b.N*len(subs))
	b.ReportMetric(float64(ledgerBytes(b, s)-size0)/float64(b.N*len(subs)), "ledger-B/sub")
}

// ledgerBytes is the size of s's database file and its WAL.
func ledgerBytes(tb testing.TB, s *Store) int64 {
	tb.Helper()
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.path + suffix); err == nil {
			n += fi.Size()
		} else if !os.IsNotExist(err) {
			tb.Fatal(err)
		}
	}
	return n
}

// BenchmarkEncodeCustomer measures what CustomerWriter.Save does on the
// fetchers' goroutines for SQLite: one customer of 100 receivable lines and
// 80 subscriptions (fees and a commitment term on each, as the simulator's)
// encoded; ns/op is per customer.
func BenchmarkEncodeCustomer(b *testing.B) {
	s := MustOpen(b)
	if s.d.postgres() {
		b.Skip("SQLite's encoding")
	}
	d := CustomerData{CustomerID: "c000001", Coverage: billing.CoverageAvailable, Period: october}
	for i := range 100 {
		d.Receivables = append(d.Receivables, sampleReceivable(i))
	}
	for i := range 80 {
		d.Subscriptions = append(d.Subscriptions, simulatorSubscription(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := s.encodeCustomer(1, &d)
		if r.subsErr != nil || r.nSubs != 80 {
			b.Fatal(r.subsErr)
		}
		r.release()
	}
}
