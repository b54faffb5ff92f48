package report

import (
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

func TestApplyExceptionsStatuses(t *testing.T) {
	d := decimal.RequireFromString
	f := func(sku, from string, pay string) Finding {
		return Finding{Kind: KindUnbilled, CustomerID: "c1", SKU: sku, ChargeType: "Recurring", Currency: "USD",
			PeriodFrom: billing.Date(from), PayableAmount: d(pay), ReceivableAmount: decimal.Zero}
	}
	res := &Result{Period: billing.Period{From: "2026-11-01", To: "2026-11-30"}, Mismatches: []Finding{
		f("A", "2026-11-01", "10.00"), f("A", "2026-10-01", "5.00"), // one group: −15.00
		f("B", "2026-11-01", "7.00"),
		f("C", "2026-11-01", "3.00"),
		f("D", "2026-11-01", "4.00"),
	}}
	fp := func(i int) string { return Fingerprint(&res.Mismatches[i]) }
	acc := []Acceptance{
		{ID: 1, Fingerprint: fp(0), Amount: d("-15.01"), Band: d("0.01")},                  // within the band (boundary)
		{ID: 2, Fingerprint: fp(2), Amount: d("-7.00"), Band: d("0.01")},                   // older: superseded
		{ID: 3, Fingerprint: fp(2), Amount: d("-6.00"), Band: d("0.50")},                   // latest: moved by 1.00
		{ID: 4, Fingerprint: fp(3), Amount: d("-3.00"), Band: d("0.01"), Until: "2026-10"}, // expired
		{ID: 5, Fingerprint: fp(4), Amount: d("-4.00"), Band: d("0"), Until: "2026-11"},    // covers this period
	}
	before := res.Mismatches[0].PayableAmount
	res.ApplyExceptions(acc)
	want := []string{StatusAccepted, StatusAccepted, StatusReopened, StatusOpen, StatusAccepted}
	for i, w := range want {
		if got := res.Mismatches[i].Status; got != w {
			t.Errorf("finding %d (%s): %s, want %s", i, res.Mismatches[i].SKU, got, w)
		}
	}
	if !res.Mismatches[0].PayableAmount.Equal(before) || len(res.Mismatches) != 5 {
		t.Error("an acceptance changed an amount or a finding")
	}
	if res.ActionableFindings() != 2 {
		t.Errorf("actionable = %d, want 2 (one reopened, one open)", res.ActionableFindings())
	}
	if len(res.Exceptions) != 3 || res.Exceptions[1].ID != 3 || !res.Exceptions[1].AmountNow.Equal(d("-7.00")) {
		t.Errorf("applied exceptions: %+v", res.Exceptions)
	}
	sc := res.StatusCounts()
	if sc[0].Count != 1 || sc[1].Count != 3 || sc[2].Count != 1 || !sc[1].Sums[0].Amount.Equal(d("-19.00")) {
		t.Errorf("status counts: %+v", sc)
	}
}
