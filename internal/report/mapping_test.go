package report

import (
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// mappingFixture: c1 and c2 share a display name ("Contoso"); a line tagged
// with an old name of c1, one with the shared name, one with the MSP's own
// name, one attributed by CustomerId, in two currencies.
func mappingFixture() (Input, []billing.PayableCharge, map[string][]billing.ReceivableCharge) {
	in := Input{RunID: "1", Period: engPeriod, PayableOK: true,
		Customers: []billing.Customer{{ID: "c1", DisplayName: "Contoso"}, {ID: "c2", DisplayName: "Contoso"}, {ID: "c3", DisplayName: "Fabrikam"}},
		Coverage:  engAvailable("c1", "c2", "c3")}
	old := engPay("", "SKU-A", "2", "20.00", "USD")
	old.Tags = engTags("CustomerDisplayName", " Contoso Ltd (old) ")
	shared := engPay("", "SKU-B", "1", "7.50", "USD")
	shared.Tags = engTags("CustomerDisplayName", "Contoso", "Site", "north")
	own := engPay("", "SKU-C", "3", "33.33", "EUR")
	own.Tags = engTags("customerdisplayname", "Our MSP")
	byID := engPay("c3", "SKU-D", "1", "5.00", "USD")
	rec := map[string][]billing.ReceivableCharge{
		"c1": {engRecv("SKU-A", "2", "12.00", "USD")},
		"c2": {engRecv("SKU-B", "1", "9.00", "USD")},
		"c3": {engRecv("SKU-D", "1", "6.00", "USD")},
	}
	return in, []billing.PayableCharge{old, shared, own, byID}, rec
}

func TestMappingMovesLinesAndTotalsTie(t *testing.T) {
	in, pay, rec := mappingFixture()
	before := Reconcile(in, pay, rec, Options{})
	if n := count(before, KindUnattributed); n != 3 {
		t.Fatalf("without mapping: %d unattributed, want 3", n)
	}
	opts := Options{
		Mapping: []MapEntry{
			{Tag: "CustomerDisplayName", Value: "Contoso Ltd (old)", CustomerID: "c1", Line: 3},
			{Tag: "site", Value: "north", CustomerID: "c2", Line: 8},
			{Tag: "CustomerDisplayName", Value: "Gone Corp", CustomerID: "c1", Line: 12},    // matches nothing
			{Tag: "CustomerDisplayName", Value: "Fabrikam", CustomerID: "c-none", Line: 16}, // unknown customer
		},
		Internal: []MapEntry{{Tag: "CustomerDisplayName", Value: "Our MSP", Line: 20}},
	}
	res := Reconcile(in, pay, rec, opts)
	if n := count(res, KindUnattributed); n != 0 {
		t.Errorf("with mapping: %d unattributed findings, want 0", n)
	}
	for _, f := range res.Mismatches {
		if f.Currency == "EUR" {
			t.Errorf("internal use produced a finding: %+v", f)
		}
	}
	row := func(id, cur string) decimal.Decimal {
		for _, c := range res.Customers {
			if c.CustomerID == id && c.Currency == cur {
				return c.Payable
			}
		}
		return decimal.Zero
	}
	if !row("c1", "USD").Equal(engDec("20.00")) || !row("c2", "USD").Equal(engDec("7.50")) {
		t.Errorf("customer rows: %+v", res.Customers)
	}
	if len(res.InternalUse) != 1 || res.InternalUse[0].Currency != "EUR" || billing.Text(res.InternalUse[0].Amount) != "33.33" || res.InternalUse[0].Count != 1 {
		t.Errorf("internal use: %+v", res.InternalUse)
	}
	// Customer rows + unattributed + internal use = total payable, per currency, exactly.
	for _, tot := range res.Totals {
		sum := decimal.Zero
		for _, c := range res.Customers {
			if c.Currency == tot.Currency {
				sum = sum.Add(c.Payable)
			}
		}
		for _, f := range res.Mismatches {
			if f.Kind == KindUnattributed && f.Currency == tot.Currency {
				sum = sum.Add(f.PayableAmount)
			}
		}
		for _, a := range res.InternalUse {
			if a.Currency == tot.Currency {
				sum = sum.Add(a.Amount)
			}
		}
		if !sum.Equal(tot.Payable) {
			t.Errorf("%s: rows + unattributed + internal = %s, total payable %s", tot.Currency, sum, tot.Payable)
		}
	}
	for i, tot := range res.Totals {
		if !tot.Payable.Equal(before.Totals[i].Payable) {
			t.Errorf("mapping changed the %s payable total: %s -> %s", tot.Currency, before.Totals[i].Payable, tot.Payable)
		}
	}
	// Stale and broken entries are warned about.
	if len(res.MappingWarnings) != 2 ||
		res.MappingWarnings[0].Value != "Gone Corp" || res.MappingWarnings[0].Problem != MappingNoMatch ||
		res.MappingWarnings[1].CustomerID != "c-none" || res.MappingWarnings[1].Problem != MappingUnknownCustomer {
		t.Errorf("mapping warnings: %+v", res.MappingWarnings)
	}
	// The rule that attributed each line.
	r := NewReconciler(in, opts)
	want := []string{RuleMapping, RuleMapping, RuleInternal, RuleCustomerIDTag}
	for i := range pay {
		if _, _, rule := r.Attributor().AttributeRule(&pay[i]); rule != want[i] {
			t.Errorf("line %d: rule %q, want %q", i, rule, want[i])
		}
	}
	shared := engPay("", "SKU-B", "1", "7.50", "USD")
	shared.Tags = engTags("CustomerDisplayName", "Contoso")
	if _, _, rule := r.Attributor().AttributeRule(&shared); rule != ReasonAmbiguousName {
		t.Errorf("shared name without mapping: %q", rule)
	}
	named := engPay("", "SKU-B", "1", "7.50", "USD")
	named.Tags = engTags("CustomerDisplayName", "Fabrikam")
	if _, _, rule := r.Attributor().AttributeRule(&named); rule != RuleDisplayNameTag {
		t.Errorf("display name: %q (a mapping to an unknown customer must not apply)", rule)
	}
}

func TestLowMargin(t *testing.T) {
	in, pay, rec := mappingFixture()
	opts := Options{Mapping: []MapEntry{{Tag: "CustomerDisplayName", Value: "Contoso Ltd (old)", CustomerID: "c1"}}}
	if n := count(Reconcile(in, pay, rec, opts), KindLowMargin); n != 0 {
		t.Fatalf("low_margin without a threshold: %d", n)
	}
	// c1: pay 20, rec 24 → 16.67 %; c3: pay 5, rec 6 → 16.67 %; c2: pay 0, rec 9 → 100 %.
	opts.LowMarginPercent = decimal.NullDecimal{Decimal: engDec("16.67"), Valid: true}
	res := Reconcile(in, pay, rec, opts)
	var got []string
	for _, f := range res.Mismatches {
		if f.Kind == KindLowMargin {
			got = append(got, f.CustomerID)
		}
	}
	if len(got) != 2 || got[0] != "c1" || got[1] != "c3" {
		t.Errorf("low_margin below 16.67: %v, want [c1 c3]", got)
	}
	opts.LowMarginPercent = decimal.NullDecimal{Decimal: engDec("16.66"), Valid: true}
	if n := count(Reconcile(in, pay, rec, opts), KindLowMargin); n != 0 {
		t.Errorf("low_margin below 16.66: %d, want 0", n)
	}
}

func count(r *Result, kind string) int {
	n := 0
	for _, f := range r.Mismatches {
		if f.Kind == kind {
			n++
		}
	}
	return n
}
