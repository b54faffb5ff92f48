package amend

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func sub(id, sku string, qty int64, term string) billing.Subscription {
	s := billing.Subscription{ID: id, SKU: sku, ProductName: sku + " product", BillingCycle: "monthly",
		Quantity: decimal.NullDecimal{Decimal: decimal.NewFromInt(qty), Valid: true}, Fees: &billing.SubscriptionFees{Currency: "Usd"}}
	if term != "" {
		s.CommitmentTerm = billing.RawJSON(term)
	}
	return s
}

func recv(sku string, qty int64) billing.ReceivableCharge {
	return billing.ReceivableCharge{SKU: sku, ChargeType: "Recurring", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31",
		Quantity: decimal.NullDecimal{Decimal: decimal.NewFromInt(qty), Valid: true}}
}

const minTerm = `{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-11-05T00:00:00.0000000Z","quantity":9},{"committedUntil":"2026-10-08","quantity":10}]}`

func TestBuildProposesDownToBilledNeverBelowMinimum(t *testing.T) {
	period := billing.Period{From: "2026-10-01", To: "2026-10-31"}
	cs := []Customer{
		{ID: "c1", Subs: []billing.Subscription{sub("s1", "A", 10, minTerm)}, Receivables: []billing.ReceivableCharge{recv("A", 7)}},
		{ID: "c2", Subs: []billing.Subscription{sub("s3", "B", 4, ""), sub("s2", "B", 3, "")}, Receivables: []billing.ReceivableCharge{recv("B", 5)}},
		{ID: "c3", Subs: []billing.Subscription{sub("s4", "C", 2, "")}, Receivables: []billing.ReceivableCharge{recv("C", 3)}},
	}
	p, err := Build(7, period, "2026-11-02", cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, e := range p.Entries {
		got[e.SubscriptionID] = e.NewQuantity
	}
	// c1: billed 7, minimum 9 in force until Nov 5 → 9. c2: excess 2 taken from s2 (first by id).
	// c3: billed more than subscribed → nothing.
	if len(got) != 2 || got["s1"] != 9 || got["s2"] != 1 {
		t.Fatalf("entries %+v", p.Entries)
	}
	if !strings.Contains(strings.Join(p.Entries[0].Guards, ";"), "blocks a full reduction") {
		t.Errorf("guards %q", p.Entries[0].Guards)
	}
	if p.Hash != Hash(p.Entries) || p.RunID != 7 {
		t.Errorf("hash/run: %+v", p)
	}
	// On Oct 5 the minimum is 10 (committed until Oct 8): no reduction possible.
	p, _ = Build(7, period, "2026-10-05", cs[:1], nil)
	if len(p.Entries) != 0 || len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0].Why, "blocks any reduction") {
		t.Errorf("Oct 5: %+v", p)
	}
	// --customer filters.
	p, _ = Build(7, period, "2026-11-02", cs, []string{"C2"})
	if len(p.Entries) != 1 || p.Entries[0].CustomerID != "c2" {
		t.Errorf("filter: %+v", p.Entries)
	}
}

func TestRefusal(t *testing.T) {
	s := sub("s1", "A", 10, minTerm)
	e := Entry{CustomerID: "c1", SubscriptionID: "s1", CurrentQuantity: 10, NewQuantity: 9}
	if why := Refusal(e, &s, "2026-11-02"); why != "" {
		t.Errorf("valid entry refused: %s", why)
	}
	e.NewQuantity = 8
	if why := Refusal(e, &s, "2026-11-02"); !strings.Contains(why, "below the committed minimum 9") {
		t.Errorf("below minimum: %q", why)
	}
	if why := Refusal(e, &s, "2026-11-06"); why != "" {
		t.Errorf("after the minimum: %q", why)
	}
	e.CurrentQuantity = 11
	if why := Refusal(e, &s, "2026-11-06"); !strings.Contains(why, "stale") {
		t.Errorf("stale: %q", why)
	}
	if why := Refusal(e, nil, "2026-11-06"); !strings.Contains(why, "no longer exists") {
		t.Errorf("gone: %q", why)
	}
	p := Plan{Version: 1, Entries: []Entry{e, e}}
	if err := p.Validate(); err == nil {
		t.Error("a duplicate subscription was accepted")
	}
}
