package job

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

func TestSummaryOfResult(t *testing.T) {
	d := decimal.RequireFromString
	res := &report.Result{
		RunID:    "4",
		Period:   billing.Period{From: "2026-10-01", To: "2026-10-31"},
		Complete: false,
		Coverage: report.CoverageSummary{Customers: 3, Available: 2,
			Missing: []report.MissingCustomer{{CustomerID: "c2", Reason: billing.CoverageFetchFailed}}},
		Totals: []report.CurrencyTotal{
			{Currency: "CAD", Payable: d("80.10"), Receivable: d("100.00"), Margin: d("19.90")},
			{Currency: "USD", Payable: d("5"), Receivable: d("0"), Margin: d("-5")},
		},
		Customers: []report.CustomerRow{{CustomerID: "c2", CustomerName: "Beta <b>", Currency: "CAD"}},
	}
	// 12 findings: the ten largest |receivable − payable| are listed, largest first.
	for i := 1; i <= 12; i++ {
		kind := report.KindUnbilled
		if i%3 == 0 {
			kind = report.KindNegativeMargin
		}
		res.Mismatches = append(res.Mismatches, report.Finding{
			Kind: kind, CustomerID: "c1", Currency: "CAD", SKU: "S" + string(rune('A'+i)),
			PayableAmount: decimal.NewFromInt(int64(i * 10)), ReceivableAmount: decimal.Zero,
		})
	}
	s := MailSummaryOf(res)
	if s.Complete || s.Customers != 3 || len(s.Missing) != 1 || s.Missing[0].Name != "Beta <b>" || s.Missing[0].Reason != "fetch_failed" {
		t.Errorf("coverage: %+v", s)
	}
	if s.Totals[0].MarginPct != "19.90" || s.Totals[0].Payable != "80.10" || s.Totals[1].MarginPct != "" {
		t.Errorf("totals %+v: want margin %% 19.90 for CAD and none without receivable", s.Totals)
	}
	if len(s.Findings) != 2 || s.Findings[0].Kind != report.KindUnbilled || s.Findings[0].Count != 8 || s.Findings[1].Count != 4 || s.Findings[0].Open != 8 {
		t.Errorf("findings per kind %+v", s.Findings)
	}
	if len(s.Largest) != 10 || s.Largest[0].Amount != "-120" || s.Largest[9].Amount != "-30" {
		var got []string
		for _, f := range s.Largest {
			got = append(got, f.Amount)
		}
		t.Errorf("largest findings %s, want -120 … -30", strings.Join(got, " "))
	}
}
