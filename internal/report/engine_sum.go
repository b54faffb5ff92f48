package report

import (
	"cmp"
	"math"
	"math/bits"

	"github.com/shopspring/decimal"
)

// Exact sums without big.Int on the fast path.
//
// A decimal.Decimal is coefficient × 10^exponent, and Decimal.Add returns the
// exact sum at the smaller exponent of its operands (so 1.50 + 2 = 3.50: the
// scale is kept, which billing.Text shows). The engine's sums start at
// decimal.Decimal{} (0 × 10^0), so a sum is coef × 10^exp with exp =
// min(0, exponents added so far). fixedAdd computes exactly that in int64 and
// reports when it cannot (coefficient overflow, exponent out of range); the
// caller then falls back to decimal.Decimal for that sum for good. Both paths
// give the same coefficient and exponent, so the result is bit-for-bit what
// chaining Decimal.Add would give.

// maxFixedDigits is the number of digits a coefficient may have to be taken
// on the fast path: any 18-digit number fits an int64.
const maxFixedDigits = 18

var pow10 = [maxFixedDigits + 1]int64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// value is one quantity or amount to add: coef × 10^exp when fixed, else d.
type value struct {
	coef  int64
	exp   int32
	fixed bool
	d     decimal.Decimal // the value when !fixed
}

// valueOf takes d on the fast path when its coefficient has at most 18 digits
// (NumDigits does not allocate for such values).
func valueOf(d decimal.Decimal) value {
	if d.NumDigits() > maxFixedDigits {
		return value{d: d}
	}
	return value{coef: d.CoefficientInt64(), exp: d.Exponent(), fixed: true}
}

// mulValue is a × b exactly, as Decimal.Mul computes it (coefficients
// multiplied, exponents added), without allocating when the product fits.
func mulValue(a, b decimal.Decimal) value {
	va, vb := valueOf(a), valueOf(b)
	if va.fixed && vb.fixed {
		e := int64(va.exp) + int64(vb.exp)
		hi, lo := bits.Mul64(absU(va.coef), absU(vb.coef))
		if hi == 0 && lo <= math.MaxInt64 && e >= math.MinInt32 && e <= math.MaxInt32 {
			c := int64(lo)
			if (va.coef < 0) != (vb.coef < 0) {
				c = -c
			}
			return value{coef: c, exp: int32(e), fixed: true}
		}
	}
	return value{d: a.Mul(b)}
}

// decimal returns v as a decimal.Decimal.
func (v value) decimal() decimal.Decimal {
	if !v.fixed {
		return v.d
	}
	return decimal.New(v.coef, v.exp)
}

func absU(c int64) uint64 {
	if c < 0 {
		return uint64(-c) // two's complement: also right for math.MinInt64
	}
	return uint64(c)
}

// scaleUp returns c × 10^k (k ≥ 0), or false when it does not fit an int64.
func scaleUp(c int64, k int64) (int64, bool) {
	switch {
	case c == 0 || k == 0:
		return c, true
	case k > maxFixedDigits:
		return 0, false
	}
	p := pow10[k]
	if c > math.MaxInt64/p || c < -math.MaxInt64/p {
		return 0, false
	}
	return c * p, true
}

// align rescales a = c1 × 10^e1 and b = c2 × 10^e2 to the smaller exponent.
func align(c1 int64, e1 int32, c2 int64, e2 int32) (a, b int64, e int32, ok bool) {
	e = min(e1, e2)
	a, ok1 := scaleUp(c1, int64(e1)-int64(e))
	b, ok2 := scaleUp(c2, int64(e2)-int64(e))
	return a, b, e, ok1 && ok2
}

// fixedAdd is (c1 × 10^e1) + (c2 × 10^e2) at exponent min(e1, e2), like
// Decimal.Add; ok is false when it does not fit an int64.
func fixedAdd(c1 int64, e1 int32, c2 int64, e2 int32) (c int64, e int32, ok bool) {
	a, b, e, ok := align(c1, e1, c2, e2)
	if !ok {
		return 0, 0, false
	}
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, 0, false
	}
	return s, e, true
}

// fixedCmp compares c1 × 10^e1 with c2 × 10^e2; ok is false when they cannot
// be brought to one exponent in an int64.
func fixedCmp(c1 int64, e1 int32, c2 int64, e2 int32) (int, bool) {
	a, b, _, ok := align(c1, e1, c2, e2)
	return cmp.Compare(a, b), ok
}

// fixedDecimal is coef × 10^exp as a decimal.Decimal; 0 × 10^0 is the zero
// value, which is what a sum nothing was added to has always been.
func fixedDecimal(coef int64, exp int32) decimal.Decimal {
	if coef == 0 && exp == 0 {
		return decimal.Decimal{}
	}
	return decimal.New(coef, exp)
}

// sum is an exact running sum: coef × 10^exp while that fits, else *big.
// The zero value is 0 (decimal.Decimal{}).
type sum struct {
	coef int64
	exp  int32
	big  *decimal.Decimal
}

func (s *sum) add(v value) {
	if s.big == nil {
		if v.fixed {
			if c, e, ok := fixedAdd(s.coef, s.exp, v.coef, v.exp); ok {
				s.coef, s.exp = c, e
				return
			}
		}
		d := fixedDecimal(s.coef, s.exp)
		s.big = &d
	}
	*s.big = s.big.Add(v.decimal())
}

func (s *sum) decimal() decimal.Decimal {
	if s.big != nil {
		return *s.big
	}
	return fixedDecimal(s.coef, s.exp)
}
