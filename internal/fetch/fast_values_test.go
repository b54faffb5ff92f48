package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// mutations returns the bases and, for each, variants with one or two
// bytes replaced by bytes that appear in dates and timestamps (or not).
func mutations(bases []string, n int) []string {
	const alphabet = "0123456789-T:Z.,+ /tz\x00é"
	rng := rand.New(rand.NewPCG(1, 2))
	out := append([]string(nil), bases...)
	for range n {
		b := []byte(bases[rng.IntN(len(bases))])
		for range 1 + rng.IntN(2) {
			switch i := rng.IntN(len(b) + 1); {
			case i == len(b):
				b = append(b, alphabet[rng.IntN(len(alphabet))])
			case rng.IntN(4) == 0:
				b = append(b[:i], b[i+1:]...)
			default:
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		out = append(out, string(b))
	}
	return out
}

func dateInputs() []string {
	var bases []string
	for _, y := range []string{"0000", "0001", "1900", "1996", "2000", "2023", "2024", "2100", "9999"} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				bases = append(bases, fmt.Sprintf("%s-%02d-%02d", y, m, d))
			}
		}
	}
	bases = append(bases, "", "2024-3-01", "2024-03-1", "+024-03-01", "-024-03-01", " 2024-03-01", "2024-03-01 ", "2024/03/01",
		"2024-03-01T10:00:00Z", "2024-03-01T10:00:00", "2024-03-01 10:00:00", "2024-03-01T", "20240301")
	return mutations(bases, 50_000)
}

// TestPlainDateAgrees: plainDate accepts exactly the strings of ten bytes
// that billing.ParseDate (time.Parse) returns unchanged.
func TestPlainDateAgrees(t *testing.T) {
	accepted := 0
	for _, v := range dateInputs() {
		d, err := billing.ParseDate(v)
		want := err == nil && string(d) == v
		if got := plainDate(v); got != want {
			t.Fatalf("plainDate(%q) = %v, billing.ParseDate = %q, %v", v, got, d, err)
		}
		if want {
			accepted++
		}
	}
	if accepted < 3000 {
		t.Fatalf("only %d dates accepted", accepted)
	}
}

func timestampInputs() []string {
	var bases []string
	for _, date := range []string{"2025-02-28", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "2024-13-01"} {
		for _, clock := range []string{"00:00:00", "18:49:07", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "1:00:00"} {
			for _, frac := range []string{"", ".", ".0", ".5", ".50", ".5846947", ".5846940", ".0000000", ".123456789", ".1234567890", ".12345678901", ",5"} {
				for _, zone := range []string{"", "Z", "z", "+01:00", "-00:00", "+0100", "ZZ"} {
					bases = append(bases, date+"T"+clock+frac+zone)
				}
			}
		}
	}
	bases = append(bases, "2025-02-28 18:49:07", "2025-02-28t18:49:07Z", "2025-02-28", "2025-02-28T18:49", "")
	return mutations(bases, 50_000)
}

// TestPlainTimestampAgrees: whatever plainTimestamp accepts,
// billing.Timestamp's decoder accepts and normalises to the same text.
func TestPlainTimestampAgrees(t *testing.T) {
	accepted := 0
	for _, v := range timestampInputs() {
		got, ok := plainTimestamp(v)
		if !ok {
			continue
		}
		accepted++
		var want billing.Timestamp
		if err := want.UnmarshalJSON(strconv.AppendQuote(nil, v)); err != nil || got != string(want) {
			t.Fatalf("plainTimestamp(%q) = %q, billing.Timestamp = %q, %v", v, got, want, err)
		}
		if unsafe.StringData(got) == unsafe.StringData(v) {
			t.Fatalf("plainTimestamp(%q) shares its input's memory", v)
		}
	}
	if accepted < 500 {
		t.Fatalf("only %d timestamps accepted", accepted)
	}
	for _, v := range []string{"2025-02-28T18:49:07.5846947", "2025-02-28T18:49:07.5846947Z", "2025-02-28T18:49:07Z", "2025-02-28T18:49:07.50Z"} {
		if _, ok := plainTimestamp(v); !ok {
			t.Errorf("plainTimestamp(%q) refused a plain timestamp", v)
		}
	}
}

// TestCompactJSON: what compactJSON accepts, json.Compact leaves as it is.
func TestCompactJSON(t *testing.T) {
	for _, v := range []string{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-10-07","quantity":19}]}`,
		`{"a":"x y"}`, `{"a": 1}`, "[1,\n2]", `12`, `"a\tb"`, `"\u2028<>&"`, "\"\xff\"", `[]`, `{}`, `true`} {
		if !json.Valid([]byte(v)) {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if compactJSON(v) && buf.String() != v {
			t.Errorf("compactJSON(%q) but json.Compact gives %q", v, buf.String())
		}
	}
}

// TestStrCache: the cache gives equal strings that never share the input's
// memory, one copy per repeated value, and stays bounded.
func TestStrCache(t *testing.T) {
	c := new(valueCache)
	buf := []byte("NCE-M365-BSTD-P1M")
	view := unsafe.String(&buf[0], len(buf))
	a := c.str(view)
	b := c.str(view)
	if a != view || b != view || unsafe.StringData(a) == &buf[0] || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("get: %q %q", a, b)
	}
	copy(buf, "XXX")
	if a != "NCE-M365-BSTD-P1M" {
		t.Fatalf("the cached string changed with the buffer: %q", a)
	}
	long := strings.Repeat("x", maxInterned+1)
	if l1, l2 := c.str(long), c.str(long); l1 != long || unsafe.StringData(l1) == unsafe.StringData(l2) {
		t.Fatal("a long string was interned")
	}
	for i := range 100_000 {
		v := strconv.Itoa(i)
		if c.str(v) != v {
			t.Fatalf("get(%q) wrong", v)
		}
	}
	if got := (*valueCache)(nil).str(view); got != view {
		t.Fatalf("nil cache: %q", got)
	}
}

// TestValueCacheDec: dec builds exactly what decimal.New builds (value,
// exponent, coefficient, reflect.DeepEqual), and the decimals sharing a
// chunk stay independent through arithmetic.
func TestValueCacheDec(t *testing.T) {
	if !decimalLayoutOK {
		t.Fatal("decimal.Decimal's layout is not the one dec knows: dec falls back to decimal.New (correct, but slower); update decimalLayout")
	}
	c := new(valueCache)
	rng := rand.New(rand.NewPCG(3, 4))
	values := []int64{0, 1, -1, 9, -10, 1 << 31, 1<<32 + 1, -(1 << 40), math.MaxInt64, math.MinInt64 + 1, math.MinInt64, 999999999999999999, -999999999999999999}
	for range 5000 {
		values = append(values, rng.Int64()>>rng.IntN(64), -rng.Int64()>>rng.IntN(64))
	}
	for i := range 3000 { // repeats, as quantities and prices repeat: slot hits
		values = append(values, values[i%40])
	}
	var got, want []decimal.Decimal
	for i, v := range values {
		exp := int32(i%21) - 18
		g, w := c.dec(v, exp), decimal.New(v, exp)
		if !reflect.DeepEqual(g, w) || g.String() != w.String() || g.Exponent() != w.Exponent() || g.Coefficient().Cmp(w.Coefficient()) != 0 {
			t.Fatalf("dec(%d, %d) = %v, decimal.New = %v", v, exp, g, w)
		}
		got, want = append(got, g), append(want, w)
	}
	// Arithmetic on decimals that share chunks changes none of them.
	sum := decimal.Sum(got[0], got[1:]...)
	if wsum := decimal.Sum(want[0], want[1:]...); !sum.Equal(wsum) {
		t.Fatalf("sum %v, want %v", sum, wsum)
	}
	for i := range got {
		_ = got[i].Add(got[(i+1)%len(got)]).Mul(got[i]).Round(2).Neg().Abs()
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("decimal #%d changed: %v, want %v", i, got[i], want[i])
		}
	}
	if d := (*valueCache)(nil).dec(-5, -1); !reflect.DeepEqual(d, decimal.New(-5, -1)) {
		t.Fatalf("nil cache: %v", d)
	}
	// A decimal still in its slot is returned again, not rebuilt; the same
	// coefficient with another exponent is another decimal.
	coef := func(d decimal.Decimal) *big.Int { return (*decimalLayout)(unsafe.Pointer(&d)).value }
	a, b, other := c.dec(1234, -2), c.dec(1234, -2), c.dec(1234, -3)
	if coef(a) != coef(b) {
		t.Errorf("dec(1234, -2) twice built two coefficients, want the slot's decimal again")
	}
	if coef(other) == coef(a) || other.String() != "1.234" || a.String() != "12.34" {
		t.Errorf("dec(1234, -3) = %v shares dec(1234, -2) = %v", other, a)
	}
}

// TestValueCacheBoolPtr: each flag gets a cell of its own holding its
// value, across chunks, and with the nil cache.
func TestValueCacheBoolPtr(t *testing.T) {
	c := new(valueCache)
	var ptrs []*bool
	for i := range 3*boolChunk + 1 {
		ptrs = append(ptrs, c.boolPtr(i%3 == 0))
	}
	ptrs = append(ptrs, (*valueCache)(nil).boolPtr(true), (*valueCache)(nil).boolPtr(false))
	seen := map[*bool]bool{}
	for i, p := range ptrs {
		if seen[p] {
			t.Fatalf("flag #%d shares a cell", i)
		}
		seen[p] = true
	}
	*ptrs[0] = !*ptrs[0] // a flag changed downstream changes no other
	for i, p := range ptrs[1 : 3*boolChunk+1] {
		if want := (i+1)%3 == 0; *p != want {
			t.Fatalf("flag #%d = %v, want %v", i+1, *p, want)
		}
	}
	if !*ptrs[len(ptrs)-2] || *ptrs[len(ptrs)-1] {
		t.Fatal("nil cache: wrong values")
	}
}
