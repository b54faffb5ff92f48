package report

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// TestLicenceCollectorRowsMatchComputeCommitments: the rows the collector
// returns (terms read once per text, the subscriptions ordered by index)
// are the in-memory computation's (every term read, the rows sorted), on
// random customers whose subscriptions share term texts and SKUs, have ids
// that differ only in case or are equal, terms that do not parse, null
// terms, scheduled quantities, and more distinct texts than the collector
// keeps (its cache starts again), with two period ends.
func TestLicenceCollectorRowsMatchComputeCommitments(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	date := func() string {
		return fmt.Sprintf("20%02d-%02d-%02d", 25+r.IntN(4), 1+r.IntN(12), 1+r.IntN(28))
	}
	var terms []string
	for range 40 {
		terms = append(terms,
			`{"type":"Monthly","termEndDate":"`+date()+`","renewalConfiguration":{"renewalDate":"`+date()+`","scheduledQuantity":`+
				[]string{"null", "3", "0"}[r.IntN(3)]+`},"committedMinimalQuantities":[{"committedUntil":"`+date()+`","quantity":`+strconv.Itoa(r.IntN(9))+`}]}`,
			`{"type":"Annual","termEndDate":"`+date()+`T00:00:00Z","renewalConfiguration":null,"committedMinimalQuantities":null}`)
	}
	terms = append(terms, `{"type":`, `{"type":"Annual","termEndDate":"2026-02-30"}`, `{"termEndDate":"2026-12-31", "type":"Annual"}`)
	ids := []string{"a", "A", "b", "B", "é", "É", "a"}
	for _, end := range []billing.Date{"2026-10-31", "2027-02-28"} {
		var customers []billing.Customer
		var in []LicenceCustomer
		prices := NewUnitPrices()
		var payables []*billing.PayableCharge
		subsOf := map[string][]billing.Subscription{}
		distinct := 0
		for c := range 300 {
			id := fmt.Sprintf("c%03d", c)
			customers = append(customers, billing.Customer{ID: id})
			var subs []billing.Subscription
			for k := range r.IntN(50) {
				s := billing.Subscription{ID: ids[r.IntN(len(ids))] + strconv.Itoa(r.IntN(5)), SKU: "S" + strconv.Itoa(r.IntN(6)),
					ProductName: "P", Quantity: nd(strconv.Itoa(1 + r.IntN(20))), BillingCycle: "monthly"}
				switch x := r.IntN(10); {
				case x == 0: // no term
				case x <= 3: // a text of its own
					distinct++
					s.CommitmentTerm = billing.RawJSON(`{"type":"Annual","termEndDate":"` + date() + `","renewalConfiguration":null,"committedMinimalQuantities":[{"committedUntil":"2026-10-08","quantity":` + strconv.Itoa(distinct) + `}]}`)
				default:
					s.CommitmentTerm = billing.RawJSON(terms[r.IntN(len(terms))])
				}
				if k%3 == 0 {
					payables = append(payables, &billing.PayableCharge{SKU: s.SKU, ChargeType: "Recurring", NetPrice: nd(strconv.Itoa(1+r.IntN(3)) + ".5"),
						Currency: "USD", Quantity: nd("1"), Tags: []billing.Tag{{Name: TagCustomerID, Value: id}}})
				}
				subs = append(subs, s)
			}
			subsOf[id] = subs
			in = append(in, LicenceCustomer{ID: id, Subs: subs})
		}
		if distinct <= termCacheMax {
			t.Fatalf("%d distinct texts: the test does not fill the cache", distinct)
		}
		attr := NewAttributor(customers)
		for _, c := range payables {
			id, _, _ := attr.Attribute(c)
			prices.Add(id, c)
		}
		_, want := ComputeCommitments(end, in, prices)

		rec := NewReconciler(Input{Period: billing.Period{From: "2026-10-01", To: end}, Customers: customers, PayableOK: true}, Options{})
		lc := NewLicenceCollector(end)
		rec.CollectLicences(lc)
		for _, c := range payables {
			rec.AddPayable(c)
		}
		var got, again []CommitmentRow
		for round := range 3 { // the cache kept from round to round (and cleared when full)
			got = got[:0]
			for _, c := range customers {
				got = append(got, lc.AddCustomer(c.ID, subsOf[c.ID])...)
				if round == 0 {
					again = lc.CustomerRows(again, c.ID, subsOf[c.ID])
				}
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("end %s, round %d: row %d of %d (want %d):\n%+v\nwant\n%+v", end, round, i, len(got), len(want), got[i], want[i])
					}
				}
				t.Fatalf("end %s, round %d: %d rows, want %d", end, round, len(got), len(want))
			}
		}
		if !reflect.DeepEqual(again, want) {
			t.Errorf("end %s: CustomerRows differs from the in-memory rows", end)
		}
		if !slices.ContainsFunc(want, func(r CommitmentRow) bool { return r.Unreadable != "" }) ||
			!slices.ContainsFunc(want, func(r CommitmentRow) bool { return r.ScheduledQuantity != nil }) ||
			!slices.ContainsFunc(want, func(r CommitmentRow) bool { return r.Remaining.Valid }) {
			t.Error("the test reaches no unreadable term, scheduled quantity or unit cost")
		}
	}
}

// TestTermCacheByPeriodEnd: a term's fields depend on the period end; the
// cache does not give one end's fields for another.
func TestTermCacheByPeriodEnd(t *testing.T) {
	raw := billing.RawJSON(`{"type":"Annual","termEndDate":"2027-03-31","renewalConfiguration":{"renewalDate":"2026-11-15","scheduledQuantity":null}}`)
	var c termCache
	for _, end := range []billing.Date{"2026-10-31", "2026-12-31", "2026-10-31"} {
		got, want := c.of(end, raw), termFieldsOf(end, raw)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("end %s: %+v, want %+v", end, got, want)
		}
	}
}
