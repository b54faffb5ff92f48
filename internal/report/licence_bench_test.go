package report

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// benchSubscriptions is the subscriptions of customers customers shaped as
// the simulator's (W1M has ~78 a customer): ids in random order sorted as the
// ledger reads them back, SKUs of the customer's payable lines, and the
// simulator's two commitment shapes (Monthly with the quantity as its
// committed minimum, Annual with one of a few term ends), some without one.
func benchSubscriptions(customers, perCustomer int) map[string][]billing.Subscription {
	r := rand.New(rand.NewPCG(7, 8))
	out := make(map[string][]billing.Subscription, customers)
	for c := range customers {
		id := "cust-" + strconv.Itoa(c)
		subs := make([]billing.Subscription, perCustomer)
		for k := range subs {
			qty := 1 + r.IntN(40)
			var term string
			switch k % 4 {
			case 0, 1:
				term = `{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-10-08","quantity":` + strconv.Itoa(qty) + `}]}`
			case 2:
				term = `{"type":"Annual","termEndDate":"2027-0` + strconv.Itoa(1+r.IntN(9)) + `-30","renewalConfiguration":null,"committedMinimalQuantities":null}`
			}
			subs[k] = billing.Subscription{ID: fmt.Sprintf("%08x-%04x-4000-8000-%012x", r.Uint32(), r.IntN(1<<16), r.Uint64()>>16),
				SKU: "SKU-" + strconv.Itoa(r.IntN(perCustomer)), ProductName: "Product", Quantity: engND(strconv.Itoa(qty)),
				BillingCycle: "monthly", Fees: &billing.SubscriptionFees{Currency: "Usd"}}
			if term != "" {
				subs[k].CommitmentTerm = billing.RawJSON(term)
			}
		}
		slices.SortFunc(subs, func(a, b billing.Subscription) int {
			if a.ID < b.ID {
				return -1
			}
			return 1
		})
		out[id] = subs
	}
	return out
}

// BenchmarkLicenceAddCustomer adds 100 customers × 80 subscriptions to a
// collector fed the customers' payable and receivable lines, as the close's
// live feed does at each commit; ns/op is per customer.
func BenchmarkLicenceAddCustomer(b *testing.B) {
	in, pays, recs := benchPricedDataset(100, 80)
	subs := benchSubscriptions(100, 80)
	r := NewReconciler(in, Options{})
	lc := NewLicenceCollector(engPeriod.To)
	r.CollectLicences(lc)
	for j := range pays {
		r.AddPayable(&pays[j])
	}
	for _, c := range in.Customers {
		for j := range recs[c.ID] {
			r.AddReceivable(c.ID, &recs[c.ID][j])
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := in.Customers[i%len(in.Customers)].ID
		if len(lc.AddCustomer(c, subs[c])) == 0 {
			b.Fatal("no rows")
		}
		if i%len(in.Customers) == len(in.Customers)-1 { // what a close of 100 customers keeps
			lc.findings, lc.com.Stranded = lc.findings[:0], lc.com.Stranded[:0]
		}
	}
}
