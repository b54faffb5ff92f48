package ledger

import (
	"context"
	"regexp"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestDigest(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	digest := func(id int64) string {
		t.Helper()
		d := mustDigest(t, s, id)
		return d
	}
	base := digest(storeRun(t, s, 0, nil))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(base) {
		t.Fatalf("Digest = %q, want 64 hex digits", base)
	}
	// Same data, other insertion orders, other run ids, call counts and error texts.
	for _, seed := range []uint64{1, 2, 3} {
		if got := digest(storeRun(t, s, seed, nil)); got != base {
			t.Errorf("Digest of shuffled run (seed %d) = %s, want %s", seed, got, base)
		}
	}
	// Any change to the business data changes the digest.
	changes := map[string]func(*billing.PayableCharge){
		"one amount": func(c *billing.PayableCharge) {
			if c.ChargeID == "charge-000042" {
				c.SubTotal = decimal.NewNullDecimal(c.SubTotal.Decimal.Add(decimal.RequireFromString("0.01")))
			}
		},
		"one amount's scale": func(c *billing.PayableCharge) {
			if c.ChargeID == "charge-000008" { // 45.00 -> 45.0
				c.SubTotal = dec("45.0")
			}
		},
		"absent instead of zero": func(c *billing.PayableCharge) {
			if c.ChargeID == "charge-000006" {
				c.ListPrice = decimal.NullDecimal{}
			}
		},
		"null instead of empty list": func(c *billing.PayableCharge) {
			if c.ChargeID == "charge-000001" {
				c.Taxes = nil
			}
		},
		"a tag": func(c *billing.PayableCharge) {
			if c.ChargeID == "charge-000003" {
				c.Tags = append(c.Tags, billing.Tag{Name: "x", Value: "y"})
			}
		},
	}
	for name, mutate := range changes {
		if got := digest(storeRun(t, s, 5, mutate)); got == base {
			t.Errorf("Digest unchanged after changing %s", name)
		}
	}
	// Receivable and coverage changes count too.
	id := storeRun(t, s, 0, nil)
	if _, err := s.db.Exec(s.db.Rebind("UPDATE receivable_charges SET cost_price_prorated = '1843.2750' WHERE run_id = ? AND line_no = 1 AND customer_id = 'cust-01'"), id); err != nil {
		t.Fatal(err)
	}
	if digest(id) == base {
		t.Error("Digest unchanged after changing a receivable amount's text")
	}
	id = storeRun(t, s, 0, nil)
	if _, err := s.db.Exec(s.db.Rebind("UPDATE customer_coverage SET coverage = 'period_differs' WHERE run_id = ? AND customer_id = 'cust-00'"), id); err != nil {
		t.Fatal(err)
	}
	if digest(id) == base {
		t.Error("Digest unchanged after changing a coverage")
	}
	if _, err := s.Digest(ctx, 99999); err == nil {
		t.Error("Digest of a missing run succeeded")
	}
}
