package report

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func nd(s string) decimal.NullDecimal {
	return decimal.NullDecimal{Decimal: decimal.RequireFromString(s), Valid: true}
}

// TestLicenceCollectorMatchesInMemory: the close's compact collector (fed
// through the Reconciler, one pass over the subscriptions) gives the
// findings, rows and summary of the in-memory computation, on values that
// take its decimal fallbacks (a 25-digit quantity and price), several
// prices or currencies, fractional seats and a mapped line (rule 0 decides
// for the engine; the licence check attributes by the tags).
func TestLicenceCollectorMatchesInMemory(t *testing.T) {
	end := billing.Date("2026-10-31")
	period := billing.Period{From: "2026-10-01", To: end}
	customers := []billing.Customer{{ID: "c1", DisplayName: "One"}, {ID: "c2", DisplayName: "Two"}, {ID: "c3", DisplayName: "Three"}}
	term := billing.RawJSON(`{"type":"Annual","termEndDate":"2027-03-31","renewalConfiguration":{"renewalDate":"2026-11-15","scheduledQuantity":null}}`)
	fees := &billing.SubscriptionFees{Currency: "Usd"}
	subs := map[string][]billing.Subscription{
		"c1": {
			{ID: "s1", SKU: "A", ProductName: "Alpha", Quantity: nd("10"), BillingCycle: "monthly", Fees: fees, CommitmentTerm: term},
			{ID: "s2", SKU: "A", ProductName: "Alpha 2", Quantity: nd("2.5"), BillingCycle: "Monthly", Fees: fees},
			{ID: "s3", SKU: "B", ProductName: "Beta", Quantity: nd("1234567890123456789012345"), BillingCycle: "yearly", CommitmentTerm: term},
			{ID: "s4", SKU: "C", ProductName: "Gamma", Quantity: nd("3"), BillingCycle: "monthly", CommitmentTerm: billing.RawJSON(`{"type":`)},
			{ID: "s5", SKU: "D", ProductName: "Delta", Quantity: nd("4"), BillingCycle: "monthly"}, // no seats
		},
		"c2": {
			{ID: "t1", SKU: "A", ProductName: "Alpha", Quantity: nd("5"), BillingCycle: "monthly", CommitmentTerm: term},
			{ID: "t2", SKU: "E", ProductName: "Eps", Quantity: nd("7"), BillingCycle: "monthly", CommitmentTerm: term},
		},
		"c3": nil,
	}
	pay := func(cust, sku, price, cur string, mapped bool) *billing.PayableCharge {
		c := &billing.PayableCharge{SKU: sku, ChargeType: "Recurring", NetPrice: nd(price), Currency: cur, Quantity: nd("1"),
			Tags: []billing.Tag{{Name: TagCustomerID, Value: cust}}}
		if mapped {
			c.Tags = append(c.Tags, billing.Tag{Name: "Site", Value: "x"})
		}
		return c
	}
	payables := []*billing.PayableCharge{
		pay("c1", "A", "3.10", "USD", false), pay("c1", "A", "3.1", "USD", false), // one price (equal values)
		pay("c1", "B", "98765432109876543210.12345", "USD", false),
		pay("c2", "A", "4", "USD", false), pay("c2", "A", "4", "EUR", false), // several currencies
		pay("c2", "E", "1", "USD", false), pay("c2", "E", "1.00", "USD", false), // one price, kept with its decimals
		pay("c1", "A", "3.2", "EUR", false), // c1 A: several prices
		pay("c1", "E", "9", "USD", true),    // mapped to c2 by rule 0; the tags say c1
	}
	rec := func(sku, qty, from, to string) billing.ReceivableCharge {
		return billing.ReceivableCharge{SKU: sku, ChargeType: "Recurring", Quantity: nd(qty), PeriodFrom: billing.Date(from),
			PeriodTo: billing.Date(to), Currency: "USD", CostPriceProrated: nd("1")}
	}
	recs := map[string][]billing.ReceivableCharge{
		"c1": {rec("A", "11.50", "2026-10-01", "2026-10-31"), rec("B", "99999999999999999999999", "2026-01-01", "2026-12-31"),
			rec("A", "1", "2026-09-01", "2026-09-30")},
		"c2": {rec("A", "5", "2026-10-01", "2026-10-31"), rec("E", "3", "2026-10-01", "2026-10-31")},
	}
	var in []LicenceCustomer
	prices := NewUnitPrices()
	attr := NewAttributor(customers)
	for _, c := range payables {
		id, _, _ := attr.Attribute(c)
		prices.Add(id, c)
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		in = append(in, LicenceCustomer{ID: id, Subs: subs[id], Receivables: recs[id]})
	}
	wantCom, wantRows := ComputeCommitments(end, in, prices)
	wantFind := LicenceCheck(end, in)

	collect := func(payables []*billing.PayableCharge, release bool) (*LicenceCollector, []CommitmentRow) {
		r := NewReconciler(Input{Period: period, Customers: customers, PayableOK: true,
			Coverage: []Coverage{{CustomerID: "c1", Status: billing.CoverageAvailable, Period: period},
				{CustomerID: "c2", Status: billing.CoverageAvailable, Period: period}}},
			Options{Mapping: []MapEntry{{Tag: "Site", Value: "x", CustomerID: "c2"}}})
		lc := NewLicenceCollector(end)
		r.CollectLicences(lc)
		for _, c := range payables {
			r.AddPayable(c)
		}
		for _, id := range []string{"c1", "c2"} {
			for i := range recs[id] {
				r.AddReceivable(id, &recs[id][i])
			}
		}
		var rows []CommitmentRow
		for _, id := range []string{"c1", "c2", "c3"} {
			added := lc.AddCustomer(id, subs[id])
			if release { // as the close does once the rows are spooled
				rows = append(rows, added...)
				lc.Release(id)
				continue
			}
			rows = lc.CustomerRows(rows, id, subs[id])
		}
		return lc, rows
	}
	lc, rows := collect(payables, false)
	// The lines in the other order (a close feeds them in API order, a
	// report in ledger order): the same rows, the same price texts.
	reversed := slices.Clone(payables)
	slices.Reverse(reversed)
	if _, back := collect(reversed, false); fmt.Sprintf("%+v", back) != fmt.Sprintf("%+v", rows) {
		t.Errorf("rows with the lines reversed:\n%+v\nwant\n%+v", back, rows)
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("rows:\n%+v\nwant\n%+v", rows, wantRows)
	}
	if got := lc.Findings(); fmt.Sprint(got) != fmt.Sprint(wantFind) || len(got) == 0 {
		t.Errorf("findings:\n%v\nwant\n%v", got, wantFind)
	}
	com := lc.Commitments(nil)
	wantCom.Rows = nil
	if fmt.Sprint(com) != fmt.Sprint(wantCom) || len(com.Stranded) == 0 || com.NoUnitCost == 0 {
		t.Errorf("summary:\n%+v\nwant\n%+v", com, wantCom)
	}
	if len(lc.bigB) == 0 || len(lc.bigP) == 0 {
		t.Error("the test does not reach the decimal fallbacks")
	}
	// Each customer released once added: the same rows, findings and
	// summary, and nothing kept of the customers' lines.
	rel, relRows := collect(payables, true)
	if fmt.Sprintf("%+v", relRows) != fmt.Sprintf("%+v", rows) {
		t.Errorf("rows with each customer released once added:\n%+v\nwant\n%+v", relRows, rows)
	}
	if got := rel.Findings(); fmt.Sprint(got) != fmt.Sprint(wantFind) {
		t.Errorf("findings with each customer released:\n%v\nwant\n%v", got, wantFind)
	}
	if com := rel.Commitments(nil); fmt.Sprint(com) != fmt.Sprint(wantCom) {
		t.Errorf("summary with each customer released:\n%+v\nwant\n%+v", com, wantCom)
	}
	if len(rel.bigB) != 0 {
		t.Errorf("%d decimal sums kept after every customer was released", len(rel.bigB))
	}
	for i, c := range rel.cust {
		if c.prices.keys != nil || c.billed.keys != nil {
			t.Errorf("customer %d: tables kept after its release", i)
		}
	}
}

// TestSKUTable: values stay with their SKU through growth; a lookup that
// does not add finds nothing for an absent SKU.
func TestSKUTable(t *testing.T) {
	var tb skuTable[uint32]
	if tb.find(0, false) != nil {
		t.Fatal("an empty table found SKU 0")
	}
	for i := range uint32(3000) {
		*tb.find(i*7, true) = i + 1
	}
	for i := range uint32(3000) {
		if v := tb.find(i*7, false); v == nil || *v != i+1 {
			t.Fatalf("SKU %d: %v", i*7, v)
		}
		if v := tb.find(i*7+1, false); v != nil {
			t.Fatalf("SKU %d was never added, found %d", i*7+1, *v)
		}
	}
	if tb.n != 3000 || 4*int(tb.n) > 3*len(tb.keys) {
		t.Errorf("%d entries in %d slots", tb.n, len(tb.keys))
	}
}

// TestLineIndex: keys keep their index through growth and a release.
func TestLineIndex(t *testing.T) {
	var ix lineIndex
	key := func(i int) lineKey { return lineKey{uint32(i % 97), uint32(i), uint32(i/7)<<2 | uint32(i%3)} }
	for i := range 5000 {
		if got, added := ix.index(key(i)); got != int32(i) || !added {
			t.Fatalf("key %d: index %d added %v", i, got, added)
		}
		if i == 3000 {
			ix.release()
		}
	}
	for i := range 6000 {
		got, added := ix.index(key(i))
		if got != int32(i) || added != (i >= 5000) || ix.key(got) != key(i) {
			t.Fatalf("key %d: index %d added %v", i, got, added)
		}
	}
}
