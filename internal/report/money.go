package report

import (
	"strings"

	"github.com/shopspring/decimal"
)

// defaultTolerance is the negative_margin tolerance when Options.Tolerance is zero.
var defaultTolerance = decimal.New(1, -2) // 0.01

// subtotalTolerance bounds |subTotal − quantity × netPriceProrated| before a
// payable line gets a subtotal_identity data-quality finding.
var subtotalTolerance = decimal.New(1, -2) // 0.01

var percentFactor = decimal.New(100, 0)

// MarginPercent is margin ÷ receivable × 100, rounded to 2 decimal places,
// half away from zero. It is the only rounded value of the product and is
// meant for display only. ok is false when receivable is zero: the cell or
// field is then left empty.
//
// The division is exact before the single rounding step (DivRound), so no
// intermediate rounding at decimal.DivisionPrecision can shift the result.
func MarginPercent(margin, receivable decimal.Decimal) (pct decimal.Decimal, ok bool) {
	if receivable.IsZero() {
		return decimal.Decimal{}, false
	}
	return margin.Mul(percentFactor).DivRound(receivable, 2), true
}

// NormalizeCurrency is the currency code the engine groups by: the code as
// sent with surrounding white space removed and letters upper-cased, so that
// "usd", " USD" and "USD" are one currency.
func NormalizeCurrency(c string) string {
	return strings.ToUpper(strings.TrimSpace(c))
}

// effectiveTolerance is the negative_margin tolerance for opts: zero means the
// default 0.01, a negative value is read as its absolute value.
func effectiveTolerance(opts Options) decimal.Decimal {
	if opts.Tolerance.IsZero() {
		return defaultTolerance
	}
	return opts.Tolerance.Abs()
}
