package ledger

import (
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// FuzzParseText: parseText gives what billing.ParseText gives (the same
// coefficient and exponent, or an error for the same texts).
func FuzzParseText(f *testing.F) {
	for _, s := range []string{"0", "-0", "-0.00", "12.340", "007", "1.", ".5", "-.5", "+5", "1e3", "1.5E-7", "",
		"-", ".", "--1", "1..2", "999999999999999999", "-999999999999999999.9", "1000000000000000000",
		"123456789012345678", "0.000000000000000001", "−3.5", "1_0", " 1", "12.34.", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := billing.ParseText(s)
		got, gerr := parseText(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("parseText(%q) error %v, billing.ParseText %v", s, gerr, werr)
		}
		if werr != nil {
			return
		}
		if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
			t.Fatalf("parseText(%q) = %s × 10^%d, billing.ParseText %s × 10^%d",
				s, got.Coefficient(), got.Exponent(), want.Coefficient(), want.Exponent())
		}
	})
}
