package sherwebsim

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// fx is an exact fixed-point decimal v × 10^-s. The generator computes every
// amount with it (no allocation, no float) and the encoder writes it with
// appendFx, which produces exactly billing.Text of the same value.
type fx struct {
	v int64
	s int8
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

func fxInt(v int64) fx { return fx{v: v} }

// mul is the exact product (the scales add up).
func (a fx) mul(b fx) fx { return fx{v: a.v * b.v, s: a.s + b.s} }

// rescale returns a at scale s ≥ a.s (exact).
func (a fx) rescale(s int8) fx {
	if s <= a.s {
		return a
	}
	return fx{v: a.v * pow10[s-a.s], s: s}
}

func (a fx) add(b fx) fx {
	s := max(a.s, b.s)
	return fx{v: a.rescale(s).v + b.rescale(s).v, s: s}
}

func (a fx) sub(b fx) fx { return a.add(fx{v: -b.v, s: b.s}) }

// round rounds half away from zero to scale s (a no-op when a.s ≤ s).
func (a fx) round(s int8) fx {
	if a.s <= s {
		return a
	}
	d := pow10[a.s-s]
	q, r := a.v/d, a.v%d
	if r < 0 {
		r = -r
	}
	if 2*r >= d {
		if a.v < 0 {
			q--
		} else {
			q++
		}
	}
	return fx{v: q, s: s}
}

// dec is the value as a decimal with the same scale.
func (a fx) dec() decimal.Decimal { return decimal.New(a.v, -int32(a.s)) }

func (a fx) nd() decimal.NullDecimal { return decimal.NullDecimal{Decimal: a.dec(), Valid: true} }

// appendFx writes a as a JSON number literal, keeping its scale: the same text
// as billing.Text(a.dec()).
func appendFx(b []byte, a fx) []byte {
	if a.s <= 0 {
		return strconv.AppendInt(b, a.v, 10)
	}
	v := a.v
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	p := pow10[a.s]
	b = strconv.AppendInt(b, v/p, 10)
	b = append(b, '.')
	frac := v % p
	var tmp [18]byte
	for i := int(a.s) - 1; i >= 0; i-- {
		tmp[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, tmp[:a.s]...)
}

// uuid is a version-4 style UUID drawn from the seeded generator.
type uuid [2]uint64

func newUUID(hi, lo uint64) uuid {
	hi = hi&^(0xF<<12) | 4<<12
	lo = lo&^(0x3<<62) | 0x2<<62
	return uuid{hi, lo}
}

const hexDigits = "0123456789abcdef"

func (u uuid) append(b []byte) []byte {
	var t [36]byte
	putHex(t[0:8], u[0]>>32)
	t[8] = '-'
	putHex(t[9:13], u[0]>>16)
	t[13] = '-'
	putHex(t[14:18], u[0])
	t[18] = '-'
	putHex(t[19:23], u[1]>>48)
	t[23] = '-'
	putHex(t[24:36], u[1])
	return append(b, t[:]...)
}

// putHex writes the len(dst) low hex digits of w into dst.
func putHex(dst []byte, w uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[w&0xF]
		w >>= 4
	}
}

func (u uuid) String() string { return string(u.append(nil)) }

// splitmix64 mixes a 64-bit value (used to derive independent seeds).
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}
