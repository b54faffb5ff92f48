package xlsx

import (
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/report"
)

// Sheets of a run's subscriptions (docs/subscriptions-and-amendments.md):
// present when the Result has a Subscriptions block.
const (
	SheetCommitments = "Commitments"
	SheetAmendments  = "Amendments"
)

func yes(b bool) cell {
	if b {
		return textCell("yes")
	}
	return cell{}
}

// subscriptionSheets writes the Commitments and Amendments sheets (after
// Mismatches) when the result has them.
func (b *builder) subscriptionSheets() error {
	if b.res.Subscriptions == nil {
		return nil
	}
	if err := b.commitments(); err != nil {
		return err
	}
	return b.amendments()
}

func (b *builder) commitments() error {
	t, err := b.newTable(SheetCommitments, []column{
		{"Customer ID", 38}, {"Customer", 32}, {"Subscription ID", 38}, {"SKU", 24}, {"Product", 40},
		{"Quantity", 10}, {"Term", 10}, {"Term End", 12}, {"Renewal Date", 12}, {"Scheduled Qty", 13},
		{"Minimum In Force", 16}, {"Days To Term End", 16}, {"Whole Months Left", 17},
		{"Monthly Unit Cost", 18}, {"Currency", 10}, {"Remaining Commitment", 20},
		{"Renews ≤30d", 11}, {"Renews ≤60d", 11}, {"Renews ≤90d", 11}, {"Stranded", 10}, {"Note", 40},
	})
	if err != nil {
		return err
	}
	// The rows are streamed (one subscription at a time from the ledger):
	// none is kept for the sheet.
	c := &b.res.Subscriptions.Commitments
	n := 0
	if c.Rows != nil {
		err = c.Rows.EachCommitment(b.ctx, func(r *report.CommitmentRow) error {
			n++
			var ec errCollector
			sched := cell{}
			if r.ScheduledQuantity != nil {
				sched = b.countCell(*r.ScheduledQuantity)
			}
			note := r.UnitCostNote
			if r.Unreadable != "" {
				note = "unreadable commitment term: " + r.Unreadable
			}
			t.row = append(t.row[:0],
				textCell(r.CustomerID), textCell(b.names[r.CustomerID]), textCell(r.SubscriptionID), textCell(r.SKU), textCell(r.Product),
				b.countCell(r.Quantity), textCell(r.TermType), textCell(string(r.TermEnd)), textCell(string(r.RenewalDate)), sched,
				b.countCell(r.MinimumInForce), b.countCell(int64(r.DaysToTermEnd)), b.countCell(int64(r.Months)),
				ec.c(b.optMoneyCell(r.UnitCost, r.Currency, true)), textCell(r.Currency),
				ec.c(b.optMoneyCell(r.Remaining, r.Currency, false)),
				yes(r.Renews30), yes(r.Renews60), yes(r.Renews90), yes(r.Stranded), textCell(note),
			)
			if ec.err != nil {
				return ec.err
			}
			return t.add()
		})
		if err != nil {
			return err
		}
	}
	// Totals per currency, after a blank row.
	if n > 0 {
		t.row = t.row[:0]
		if err := t.add(); err != nil {
			return err
		}
	}
	for _, cur := range sortedKeys(c.Totals) {
		var ec errCollector
		t.row = append(t.row[:0], textCell("Total remaining commitment"), cell{}, cell{}, cell{}, cell{},
			cell{}, cell{}, cell{}, cell{}, cell{}, cell{}, cell{}, cell{}, cell{}, textCell(cur),
			ec.c(b.moneyCell(c.Totals[cur], cur)))
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

func sortedKeys(m map[string]decimal.Decimal) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (b *builder) amendments() error {
	t, err := b.newTable(SheetAmendments, []column{
		{"Seq", 8}, {"At", 22}, {"Actor", 14}, {"Plan", 14}, {"Customer ID", 38}, {"Customer", 32},
		{"Subscription ID", 38}, {"SKU", 24}, {"From Qty", 10}, {"To Qty", 10}, {"Event", 12},
		{"Amendment ID", 38}, {"Status", 16}, {"Detail", 60},
	})
	if err != nil {
		return err
	}
	for _, a := range b.res.Subscriptions.Amendments {
		plan := a.PlanHash
		if len(plan) > 12 {
			plan = plan[:12]
		}
		t.row = append(t.row[:0],
			b.countCell(a.Seq), textCell(a.At), textCell(a.Actor), textCell(plan), textCell(a.CustomerID), textCell(b.names[a.CustomerID]),
			textCell(a.SubscriptionID), textCell(a.SKU), b.countCell(a.CurrentQuantity), b.countCell(a.NewQuantity), textCell(a.Event),
			textCell(a.AmendmentID), textCell(a.Status), textCell(a.Detail),
		)
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}
