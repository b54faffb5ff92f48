package xlsx

import (
	"bytes"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
)

// decimalCellText is the row appendRow writes for d as a cellDecimal, and
// the one it writes for the float num(d) as a cellFloat (the text before
// appendShortDecimal).
func decimalCellText(enc *rowEncoder, d decimal.Decimal) (got, want []byte) {
	got = enc.appendRow(nil, 7, []cell{{kind: cellDecimal, style: 3, dec: d}})
	want = enc.appendRow(nil, 7, []cell{{kind: cellFloat, style: 3, num: num(d)}})
	return got, want
}

func checkDecimalCell(t *testing.T, enc *rowEncoder, d decimal.Decimal) {
	t.Helper()
	if got, want := decimalCellText(enc, d); !bytes.Equal(got, want) {
		t.Fatalf("decimal %s (coefficient %s, exponent %d): wrote\n%s\nthe float %v writes\n%s",
			d, d.Coefficient(), d.Exponent(), got, num(d), want)
	}
}

func TestAppendShortDecimalMatchesFloat(t *testing.T) {
	var enc rowEncoder
	var values []decimal.Decimal
	for _, s := range []string{
		"0", "-0", "0.00", "1", "-1", "0.1", "0.2", "0.3", "-0.3", "0.01", "0.001", "12.345678", "37.04", "-1.69",
		"1000", "1000.00", "1e3", "-2.5e2", "0.000001", "123456.789", "9.99", "19.99", "0.005", "3.14159265358979",
		// 15 and 16 significant digits, around 10^15 and on both sides of
		// the fast path's limits
		"999999999999999", "-999999999999999", "1000000000000000", "999999999999999.9", "99999999999999.9",
		"9999999999999.99", "0.999999999999999", "0.9999999999999999", "1.00000000000001", "1.000000000000001",
		"123456789012345", "12345678901234.5", "1234567890.12345", "0.123456789012345", "0.1234567890123456",
		"100000000000000", "99999999999999900", "9007199254740993", "9007199254740992", "4503599627370496.5",
		"1e-30", "1.5e-30", "1e-31", "123456789012345e-30", "1e14", "1e15", "-1e14", "12e13", "12e14",
		"922337203685477.5807", "9223372036854775807", "-9223372036854775808", "92233720368547758070",
		"123456789012345678901234567890.123", "0.0000000000000000000000000000000000001", "1e400", "-1e400", "1e-400",
		"2.675", "1.005", "0.145", "1.15", "8.345", "1234.565", // classic float rounding examples
	} {
		values = append(values, decimal.RequireFromString(s))
	}
	// Every coefficient in -2000..2000 at every exponent in -10..3.
	for c := int64(-2000); c <= 2000; c++ {
		for e := int32(-10); e <= 3; e++ {
			values = append(values, decimal.New(c, e))
		}
	}
	// Powers of ten and their neighbours at many exponents.
	for k := 0; k <= 18; k++ {
		p := int64(math.Pow10(k))
		for _, c := range []int64{p - 1, p, p + 1, -p + 1, -p, -p - 1} {
			for e := int32(-32); e <= 4; e++ {
				values = append(values, decimal.New(c, e))
			}
		}
	}
	// Random coefficients of 1 to 19 digits and exponents -34..6, and random
	// coefficients beyond int64.
	r := rand.New(rand.NewPCG(11, 15))
	for i := 0; i < 200_000; i++ {
		digits := 1 + r.IntN(19)
		c := r.Int64N(int64(math.Pow10(digits-1))*9) + int64(math.Pow10(digits-1))
		if digits == 19 {
			c = r.Int64N(math.MaxInt64-1e18) + 1e18
		}
		if r.IntN(2) == 0 {
			c = -c
		}
		values = append(values, decimal.New(c, int32(r.IntN(41)-34)))
	}
	for i := 0; i < 2_000; i++ {
		c := new(big.Int).Lsh(big.NewInt(r.Int64()), uint(1+r.IntN(64)))
		values = append(values, decimal.NewFromBigInt(c, int32(r.IntN(41)-34)))
	}
	for _, d := range values {
		checkDecimalCell(t, &enc, d)
	}
}

func TestAppendShortDecimalTakesMoney(t *testing.T) {
	// Amounts as the ledger holds them are written from their digits, not
	// through the float (the fast path is not silently unused).
	for _, s := range []string{"0", "12.345678", "-1.69", "37.04", "0.01", "1000", "1000.00", "-0.000125", "99999999999999.9"} {
		out, ok := appendShortDecimal([]byte("x"), decimal.RequireFromString(s))
		want := strconv.FormatFloat(decimal.RequireFromString(s).InexactFloat64(), 'f', -1, 64)
		if !ok || string(out) != "x"+want {
			t.Errorf("appendShortDecimal(%s) = %q, %v; want %q, true", s, out, ok, "x"+want)
		}
	}
	// Beyond 15 significant digits, or out of range: not taken.
	for _, s := range []string{"1234567890.123456", "1e15", "1e-31", "123456789012345678901234567890"} {
		if out, ok := appendShortDecimal([]byte("x"), decimal.RequireFromString(s)); ok || string(out) != "x" {
			t.Errorf("appendShortDecimal(%s) = %q, %v; want it not taken", s, out, ok)
		}
	}
}

func FuzzAppendShortDecimal(f *testing.F) {
	f.Add(int64(12345678), int32(-6))
	f.Add(int64(-169), int32(-2))
	f.Add(int64(999999999999999), int32(0))
	f.Add(int64(1), int32(-30))
	f.Add(int64(math.MinInt64), int32(-3))
	var enc rowEncoder
	f.Fuzz(func(t *testing.T, c int64, e int32) {
		if e < -400 || e > 400 {
			return
		}
		checkDecimalCell(t, &enc, decimal.New(c, e))
	})
}

// BenchmarkMoneyCells encodes rows of four money cells, as decimals (written
// from their digits) and as the floats they were before.
func BenchmarkMoneyCells(b *testing.B) {
	amounts := []decimal.Decimal{
		decimal.RequireFromString("12.345678"), decimal.RequireFromString("37.04"),
		decimal.RequireFromString("-1.69"), decimal.RequireFromString("1234.5"),
	}
	for _, kind := range []cellKind{cellDecimal, cellFloat} {
		name := map[cellKind]string{cellDecimal: "decimal", cellFloat: "float"}[kind]
		b.Run(name, func(b *testing.B) {
			var enc rowEncoder
			row := make([]cell, len(amounts))
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for j, d := range amounts {
					row[j] = cell{kind: kind, style: 9, dec: d}
					if kind == cellFloat {
						row[j] = cell{kind: kind, style: 9, num: num(d)} // the float made as before, per row
					}
				}
				buf = enc.appendRow(buf[:0], i+2, row)
			}
		})
	}
}
