package xlsx

import (
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/report"
)

func TestCommitmentsAndAmendmentsSheets(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	if slices.Contains(f.GetSheetList(), SheetCommitments) {
		t.Fatal("a result without a Subscriptions block has a Commitments sheet")
	}

	res, info, d = wbFixture(true)
	sched := int64(4)
	res.Subscriptions = &report.SubscriptionsBlock{
		Commitments: report.Commitments{
			Rows: report.CommitmentSlice{
				{CustomerID: "c1", SubscriptionID: "s1", SKU: "SKU-A", Product: "A", Quantity: 5, TermType: "Annual",
					TermEnd: "2027-10-30", RenewalDate: "2027-10-31", ScheduledQuantity: &sched, MinimumInForce: 3,
					DaysToTermEnd: 364, Months: 11, UnitCost: wbND("12.5"), Currency: "USD", Remaining: wbND("687.5"),
					Stranded: true},
				{CustomerID: "c2", SubscriptionID: "s2", SKU: "SKU-B", Quantity: 2, TermType: "Monthly", TermEnd: "2026-10-31",
					RenewalDate: "2026-11-01", Renews30: true, Renews60: true, Renews90: true,
					UnitCostNote: "no payable line price for this customer and SKU in the run"},
			},
			Totals: map[string]decimal.Decimal{"USD": wbDec("687.5")},
		},
		Amendments: []report.AmendmentLogRow{{Seq: 1, At: "2026-11-02T06:00:00Z", Actor: "me", PlanHash: "0123456789abcdef",
			CustomerID: "c1", SubscriptionID: "s1", SKU: "SKU-A", CurrentQuantity: 5, NewQuantity: 3, Event: "intent"}},
	}
	f = wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	sheets := f.GetSheetList()
	// After Mismatches and Invoices (the Invoices sheet came after this test).
	i := slices.Index(sheets, SheetInvoices)
	if i < 0 || slices.Index(sheets, SheetMismatches) != i-1 || i+2 >= len(sheets) ||
		sheets[i+1] != SheetCommitments || sheets[i+2] != SheetAmendments {
		t.Fatalf("sheets %v: want Commitments and Amendments after Mismatches and Invoices", sheets)
	}
	c := SheetCommitments
	wantText(t, f, c, "C2", "s1")
	wantNumber(t, f, c, "F2", wbDec("5"))
	wantText(t, f, c, "H2", "2027-10-30")
	wantNumber(t, f, c, "J2", wbDec("4"))
	wantNumber(t, f, c, "K2", wbDec("3"))
	wantNumber(t, f, c, "M2", wbDec("11"))
	wantNumber(t, f, c, "N2", wbDec("12.5"))
	wantNumber(t, f, c, "P2", wbDec("687.5"))
	wantText(t, f, c, "T2", "yes")
	wantEmpty(t, f, c, "Q2")
	wantText(t, f, c, "Q3", "yes")
	wantEmpty(t, f, c, "N3")
	wantEmpty(t, f, c, "P3")
	wantText(t, f, c, "U3", "no payable line price for this customer and SKU in the run")
	wantText(t, f, c, "A5", "Total remaining commitment")
	wantText(t, f, c, "O5", "USD")
	wantNumber(t, f, c, "P5", wbDec("687.5"))
	a := SheetAmendments
	wantNumber(t, f, a, "A2", wbDec("1"))
	wantText(t, f, a, "D2", "0123456789ab")
	wantText(t, f, a, "K2", "intent")
	wantNumber(t, f, a, "J2", wbDec("3"))
}
