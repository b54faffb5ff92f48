package report

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// refSnapshot is the straightforward aggregation the compact line table
// replaced (maps of decimal.Decimal sums, fed line by line): the reference
// the table must match exactly, exponents included.
func refSnapshot(in Input, payables []billing.PayableCharge, receivables map[string][]billing.ReceivableCharge) ([]BridgeLine, []LineKeyTotal) {
	attr := NewAttributor(in.Customers)
	res := Reconcile(in, payables, receivables, Options{})
	missing := map[string]bool{}
	for _, m := range res.Coverage.Missing {
		missing[m.CustomerID] = true
	}
	type bk struct{ id, sku, cur string }
	type ba struct {
		pay, rec, qty decimal.Decimal
		hasPay        bool
	}
	type rk struct{ id, sku, ct, from, to, cur string }
	type ra struct {
		payQty, pay, recQty, rec decimal.Decimal
		hasPay                   bool
	}
	bridge, keys := map[bk]*ba{}, map[rk]*ra{}
	bAt := func(k bk) *ba {
		if bridge[k] == nil {
			bridge[k] = &ba{pay: decimal.Zero, rec: decimal.Zero, qty: decimal.Zero}
		}
		return bridge[k]
	}
	kAt := func(k rk) *ra {
		if keys[k] == nil {
			keys[k] = &ra{payQty: decimal.Zero, pay: decimal.Zero, recQty: decimal.Zero, rec: decimal.Zero}
		}
		return keys[k]
	}
	for i := range payables {
		c := &payables[i]
		x, _ := attr.attribute(c)
		id, cur := "", NormalizeCurrency(c.Currency)
		if x >= 0 {
			id = attr.ids[x]
			a := bAt(bk{id, c.SKU, cur})
			a.pay, a.qty, a.hasPay = a.pay.Add(c.Amount()), a.qty.Add(c.Quantity.Decimal), true
		}
		k := kAt(rk{id, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), cur})
		k.payQty, k.pay, k.hasPay = k.payQty.Add(c.Quantity.Decimal), k.pay.Add(c.Amount()), true
	}
	for cust, lines := range receivables {
		x := attr.canonical(cust)
		if x < 0 {
			continue
		}
		id := attr.ids[x]
		for i := range lines {
			c := &lines[i]
			cur := NormalizeCurrency(c.Currency)
			a := bAt(bk{id, c.SKU, cur})
			a.rec = a.rec.Add(c.Amount())
			k := kAt(rk{id, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), cur})
			k.recQty, k.rec = k.recQty.Add(c.Quantity.Decimal), k.rec.Add(c.Amount())
		}
	}
	bl := []BridgeLine{}
	for k, a := range bridge {
		rec := a.rec
		if missing[k.id] {
			if !a.hasPay {
				continue
			}
			rec = decimal.Zero
		}
		bl = append(bl, BridgeLine{k.id, k.sku, k.cur, a.pay, rec, a.qty})
	}
	slices.SortFunc(bl, func(a, b BridgeLine) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Currency, b.Currency))
	})
	lk := []LineKeyTotal{}
	for k, a := range keys {
		recQty, rec := a.recQty, a.rec
		if k.id != "" && missing[k.id] {
			if !a.hasPay {
				continue
			}
			recQty, rec = decimal.Zero, decimal.Zero
		}
		lk = append(lk, LineKeyTotal{k.id, k.sku, k.ct, billing.Date(k.from), billing.Date(k.to), k.cur, a.payQty, a.pay, recQty, rec})
	}
	slices.SortFunc(lk, func(a, b LineKeyTotal) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.SKU, b.SKU),
			cmp.Compare(a.ChargeType, b.ChargeType), cmp.Compare(a.PeriodFrom, b.PeriodFrom),
			cmp.Compare(a.PeriodTo, b.PeriodTo), cmp.Compare(a.Currency, b.Currency))
	})
	return bl, lk
}

// exactText renders every field, each amount as coefficient and exponent.
func exactText(v any) string {
	switch x := v.(type) {
	case []BridgeLine:
		s := ""
		for _, l := range x {
			s += fmt.Sprintf("%q %q %q %s %s %s\n", l.CustomerID, l.SKU, l.Currency, decText(l.Payable), decText(l.Receivable), decText(l.PayableQty))
		}
		return s
	case []LineKeyTotal:
		s := ""
		for _, l := range x {
			s += fmt.Sprintf("%q %q %q %s %s %q %s %s %s %s\n", l.CustomerID, l.SKU, l.ChargeType, l.PeriodFrom, l.PeriodTo, l.Currency,
				decText(l.PayableQty), decText(l.PayableAmount), decText(l.ReceivableQty), decText(l.ReceivableAmount))
		}
		return s
	}
	panic("exactText")
}

func decText(d decimal.Decimal) string {
	return d.Coefficient().String() + "e" + fmt.Sprint(d.Exponent())
}

// TestLineTableMatchesReference: for random runs (huge and tiny amounts too,
// so that the decimal fallback is taken), the Snapshot's bridge lines and
// line key totals are exactly those of the reference aggregation.
func TestLineTableMatchesReference(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, seed*31+7))
		run := cmpRandomRun(r, "1", sepPeriod)
		if seed%5 == 0 && len(run.pay) > 0 { // beyond int64, and a deep exponent
			run.pay[0].SubTotal = decimal.NewNullDecimal(decimal.RequireFromString("98765432109876543210.5"))
			if len(run.pay) > 1 {
				run.pay[1].Quantity = decimal.NewNullDecimal(decimal.New(3, -200))
			}
		}
		snap := run.snapshot(t, true)
		in := Input{RunID: run.id, Period: run.period, PayableOK: true}
		failed := map[string]bool{}
		for _, f := range run.failed {
			failed[f] = true
		}
		for _, c := range run.customers {
			in.Customers = append(in.Customers, billing.Customer{ID: c, DisplayName: "Name " + c})
			if failed[c] {
				in.Coverage = append(in.Coverage, Coverage{CustomerID: c, Status: billing.CoverageFetchFailed, Error: "boom"})
			} else {
				in.Coverage = append(in.Coverage, Coverage{CustomerID: c, Status: billing.CoverageAvailable, Period: run.period})
			}
		}
		wantB, wantK := refSnapshot(in, run.pay, run.rec)
		if got, want := exactText(snap.BridgeLines()), exactText(wantB); got != want {
			t.Fatalf("seed %d: bridge lines\n%s\nwant\n%s", seed, got, want)
		}
		if got, want := exactText(snap.LineKeyTotals()), exactText(wantK); got != want {
			t.Fatalf("seed %d: line keys\n%s\nwant\n%s", seed, got, want)
		}
		if s := run.snapshot(t, false); s.HasLineKeys || s.LineKeyTotals() != nil {
			t.Fatal("HasLineKeys without LineKeys")
		}
	}
}
