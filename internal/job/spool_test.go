package job

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// The spool gives back every field of the rows it was given, exactly
// (decimals with their scale, long and negative coefficients, null and set
// optional fields), customer by customer in the order asked for, whatever
// the order they were spooled in, and again on a second read; strings past
// the table's limit are written out.
func TestCommitmentSpoolRoundTrip(t *testing.T) {
	t.Cleanup(SetSpoolDir(t.TempDir()))
	nd := func(s string) decimal.NullDecimal {
		return decimal.NullDecimal{Decimal: decimal.RequireFromString(s), Valid: true}
	}
	seven := int64(7)
	rows := map[string][]report.CommitmentRow{
		"c-b": {
			{CustomerID: "c-b", SubscriptionID: "s-1", SKU: "SKU-1", Product: "Prod", Quantity: 3, TermType: "Monthly",
				TermEnd: "2026-10-31", RenewalDate: "2026-11-01", ScheduledQuantity: &seven, MinimumInForce: 2,
				DaysToTermEnd: -4, Months: 0, UnitCost: nd("12.50"), Currency: "USD", Remaining: nd("0.00"),
				Renews30: true, Renews60: true, Renews90: true, Stranded: true},
			{CustomerID: "c-b", SubscriptionID: "s-2", SKU: "SKU-2", Product: "Prod é", Quantity: -1, TermType: "Annual",
				TermEnd: "2027-03-31", DaysToTermEnd: 151, Months: 5, UnitCost: nd("-123456789012345678901.125"),
				Currency: "EUR", Remaining: nd("1E+3"), Renews90: true},
		},
		"c-a": {
			{CustomerID: "c-a", SubscriptionID: "s-3", SKU: "SKU-1", Product: "Prod", Quantity: 1,
				UnitCostNote: "no payable line price for this customer and SKU in the run"},
			{CustomerID: "c-a", SubscriptionID: "s-4", SKU: "SKU-9", Product: "Other", Quantity: 1, Unreadable: "commitmentTerm: bad JSON"},
		},
		"c-empty": nil,
	}
	s := newCommitmentSpool()
	s.limit = 5 // the rest are written out
	for _, id := range []string{"c-b", "c-empty", "c-a"} {
		s.add(id, rows[id])
	}
	got := s.spooledRows([]string{"c-a", "c-b", "c-c", "c-empty"})
	if got == nil {
		t.Fatalf("no spool: %v", s.err)
	}
	want := append(append([]report.CommitmentRow(nil), rows["c-a"]...), rows["c-b"]...)
	exact := cmp.Transformer("billing.Text", billing.Text)
	for pass := range 2 {
		var read []report.CommitmentRow
		if err := got.EachCommitment(context.Background(), func(r *report.CommitmentRow) error {
			read = append(read, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, read, exact); d != "" {
			t.Errorf("pass %d (-want +got):\n%s", pass, d)
		}
	}
	if len(s.strs) != 5 {
		t.Errorf("%d strings in the table, want the limit 5", len(s.strs))
	}
	s.close()
	if err := got.EachCommitment(context.Background(), func(*report.CommitmentRow) error { return nil }); err == nil {
		t.Error("a closed spool was read")
	}
}

// A spool whose directory does not exist is not used: the sheet reads the
// subscriptions again.
func TestCommitmentSpoolUnusable(t *testing.T) {
	t.Cleanup(SetSpoolDir(fmt.Sprintf("%s/missing", t.TempDir())))
	s := newCommitmentSpool()
	s.add("c", []report.CommitmentRow{{CustomerID: "c", SubscriptionID: "s"}})
	if s.err == nil || s.spooledRows([]string{"c"}) != nil {
		t.Errorf("spool in a missing directory: err %v", s.err)
	}
}
