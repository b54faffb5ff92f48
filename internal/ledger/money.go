package ledger

import (
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// parseText is billing.ParseText (decimal.NewFromString) with a fast path
// for the text the ledger stores for nearly every amount (billing.Text of a
// coefficient of at most 18 digits): an optional "-", digits, and an
// optional "." followed by digits. It gives the very same decimal
// (coefficient and exponent) as NewFromString; anything else goes to it.
func parseText(s string) (decimal.Decimal, error) {
	i := 0
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		i = 1
	}
	var n int64
	digits, frac := 0, -1 // frac: digits after the point, -1 before it
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && digits > 0:
			frac = 0
		default:
			return billing.ParseText(s)
		}
	}
	if digits == 0 || digits > 18 || frac == 0 {
		return billing.ParseText(s)
	}
	if neg {
		n = -n
	}
	return decimal.New(n, -int32(max(frac, 0))), nil
}
