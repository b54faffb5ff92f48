package fetch

import (
	"math/big"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/shopspring/decimal"
)

// This file holds the value decoders of the fast paths that avoid the
// general machinery on the common forms: an intern table for the strings
// that repeat from line to line, and exact parsers of the fixed-layout dates
// and timestamps the API sends. Each recognises only the plain form and
// leaves anything else to the general code (billing.ParseDate, the
// Timestamp and RawJSON decoders), so they change how fast a value is
// decoded, never what it decodes to; fast_values_test.go compares them
// with the general code on many inputs, invalid ones included.

// strSlots is the number of string slots of a valueCache.
const (
	strSlotBits = 12
	strSlots    = 1 << strSlotBits
)

// maxInterned is the longest string a valueCache keeps.
const maxInterned = 128

// valueCache is what the fast decoders allocate values from.
//
// Strings: a bounded intern table, a direct-mapped cache from a string's
// text to one copy of it, so the values that repeat from line to line (SKUs,
// product and charge names, currencies, dates, tag names) are allocated once
// per stream instead of once per field per line, which also shrinks what
// the decoded charges keep alive downstream. A slot holds the last string
// that hashed to it; a miss copies the text and takes the slot.
//
// Decimals: the big.Int coefficient of a plain decimal is taken from a
// chunk of cells instead of being allocated on its own (two allocations
// per decimal with decimal.New), see dec; and the decimals that repeat from
// line to line (quantities, unit prices, tax rates) are taken from a
// direct-mapped cache of the last decimal of each slot, as the strings are.
//
// The nil *valueCache allocates every value on its own.
//
// Bools: the *bool of a flag is taken from a chunk of cells the same way
// (one allocation per boolChunk flags instead of one each).
type valueCache struct {
	slots [strSlots]string
	decs  [decSlots]decSlot
	cells []decCell
	bools []bool
}

// decSlots is the number of decimal slots of a valueCache. Each slot's
// decimal keeps its chunk of cells alive: at most decSlots × 640 bytes.
const (
	decSlotBits = 10
	decSlots    = 1 << decSlotBits
)

// decSlot is the last decimal whose coefficient and exponent hashed to it.
type decSlot struct {
	v   int64
	exp int32
	set bool
	d   decimal.Decimal
}

// boolChunk is the number of bool cells allocated at once: one 16-byte
// allocation, which a flag kept downstream keeps alive.
const boolChunk = 16

// boolPtr returns a pointer to a bool of its own holding v (no other
// value shares the cell; a nil cache allocates it alone).
func (c *valueCache) boolPtr(v bool) *bool {
	if c == nil {
		p := new(bool) // not &v: v would escape, one allocation per call
		*p = v
		return p
	}
	if len(c.bools) == 0 {
		c.bools = make([]bool, boolChunk)
	}
	p := &c.bools[0]
	c.bools = c.bools[1:]
	*p = v
	return p
}

// str returns a string equal to v that does not share v's memory (v is a
// view of a buffer that is reused).
func (c *valueCache) str(v string) string {
	if c == nil || len(v) > maxInterned {
		return strings.Clone(v)
	}
	slot := &c.slots[strHash(v)]
	if *slot == v {
		return *slot
	}
	s := strings.Clone(v)
	*slot = s
	return s
}

// strHash is the slot of v: a hash of its length and of its first, middle
// and last eight bytes (cheaper than hashing every byte; strings that
// differ only elsewhere share a slot, which costs copies, never a wrong
// answer).
func strHash(v string) uint64 {
	n := len(v)
	var h uint64
	if n >= 8 {
		h = le64(v) ^ bits.RotateLeft64(le64(v[n/2-4:]), 21) ^ bits.RotateLeft64(le64(v[n-8:]), 42)
	} else {
		for i := range n {
			h = h<<8 | uint64(v[i])
		}
	}
	h = (h ^ uint64(n)) * 0x9e3779b97f4a7c15
	return h >> (64 - strSlotBits)
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// decCell is the coefficient of one decimal: a big.Int whose one word is
// stored next to it.
type decCell struct {
	i big.Int
	w [1]big.Word
}

// decChunk is the number of cells allocated at once: 16 (640 bytes). A
// decimal kept downstream (a unit price, a subscription's quantity) keeps its
// whole chunk alive; with 128 cells the chunks pinned that way held ≈ 6.5 MB
// in the middle of the W1M fan-out, and 16 cells still make one allocation
// of sixteen decimals.
const decChunk = 16

// dec returns decimal.New(v, exp): the same value, exponent and coefficient
// (reflect.DeepEqual holds), with the coefficient taken from a chunk of
// cells, or the very decimal it returned for the same v and exp last time,
// when that is still in its slot. A decimal never changes its coefficient
// (every decimal operation returns a new one), so the cells of a chunk are
// independent values that merely share an allocation, which lives as long
// as any of them, and lines may share a decimal.
func (c *valueCache) dec(v int64, exp int32) decimal.Decimal {
	if c == nil || !decimalLayoutOK {
		return decimal.New(v, exp)
	}
	slot := &c.decs[(uint64(v)^uint64(uint32(exp))<<40)*0x9e3779b97f4a7c15>>(64-decSlotBits)]
	if slot.set && slot.v == v && slot.exp == exp {
		return slot.d
	}
	d := c.newDec(v, exp)
	*slot = decSlot{v: v, exp: exp, set: true, d: d}
	return d
}

// newDec is dec's decimal when its slot holds another.
func (c *valueCache) newDec(v int64, exp int32) decimal.Decimal {
	if len(c.cells) == 0 {
		c.cells = make([]decCell, decChunk)
	}
	cell := &c.cells[0]
	c.cells = c.cells[1:]
	if v != 0 { // zero keeps the nil word slice of big.NewInt(0)
		u := uint64(v)
		if v < 0 {
			u = -u
		}
		cell.w[0] = big.Word(u)
		cell.i.SetBits(cell.w[:])
		if v < 0 {
			cell.i.Neg(&cell.i)
		}
	}
	return decimalOf(&cell.i, exp)
}

// decimalLayout is decimal.Decimal's layout (shopspring/decimal v1.6.0):
// the fields are unexported and no constructor takes a coefficient without
// copying it. decimalLayoutOK checks the layout, field by field, before dec
// relies on it; with any other layout dec falls back to decimal.New.
type decimalLayout struct {
	value *big.Int
	exp   int32
}

var decimalLayoutOK = func() bool {
	if bits.UintSize != 64 { // dec keeps a coefficient in one 64-bit word
		return false
	}
	want, got := reflect.TypeFor[decimalLayout](), reflect.TypeFor[decimal.Decimal]()
	if got.Size() != want.Size() || got.NumField() != want.NumField() {
		return false
	}
	for i := range want.NumField() {
		w, g := want.Field(i), got.Field(i)
		if w.Name != g.Name || w.Type != g.Type || w.Offset != g.Offset {
			return false
		}
	}
	return true
}()

func decimalOf(v *big.Int, exp int32) decimal.Decimal {
	return *(*decimal.Decimal)(unsafe.Pointer(&decimalLayout{value: v, exp: exp}))
}

// valueCaches recycles the caches between streams and customers; the
// strings a cache holds are immutable and its decimal cells are handed out
// once, so sharing a cache between responses changes nothing but memory.
var valueCaches = sync.Pool{New: func() any { return new(valueCache) }}

func getValueCache() *valueCache  { return valueCaches.Get().(*valueCache) }
func putValueCache(c *valueCache) { valueCaches.Put(c) }

// digits2 returns the value of the two ASCII digits s[i:i+2], or -1.
func digits2(s string, i int) int {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return -1
	}
	return int(a)*10 + int(b)
}

// plainDate reports whether v is exactly yyyy-MM-dd with a month and day
// that exist: the strings billing.ParseDate accepts unchanged without a time
// part (time.Parse("2006-01-02") checks the same: four-digit year, two-digit
// month 01-12, two-digit day within the month).
func plainDate(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	hi, lo := digits2(v, 0), digits2(v, 2)
	month, day := digits2(v, 5), digits2(v, 8)
	if hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= daysIn(month, hi*100+lo)
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// plainTimestamp decodes the forms of a timestamp the API sends,
// yyyy-MM-ddTHH:mm:ss with an optional fraction of 1 to 9 digits after a
// point and an optional Z (zone-less means UTC), into what
// billing.Timestamp's decoder makes of them: the same instant in RFC 3339
// with the fraction's trailing zeros dropped and Z. Anything else (another
// zone, a comma, a longer fraction, a field out of range) reports false.
func plainTimestamp(v string) (string, bool) {
	if len(v) < 19 || !plainDate(v[:10]) || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return "", false
	}
	h, m, s := digits2(v, 11), digits2(v, 14), digits2(v, 17)
	if h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59 {
		return "", false
	}
	rest := strings.TrimSuffix(v[19:], "Z")
	frac := ""
	if rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return "", false
		}
		for i := 1; i < len(rest); i++ {
			if rest[i] < '0' || rest[i] > '9' {
				return "", false
			}
		}
		frac = strings.TrimRight(rest, "0")
		if frac == "." {
			frac = ""
		}
	}
	if len(v) == 19+len(frac)+1 && v[len(v)-1] == 'Z' {
		return strings.Clone(v), true // already in its normal form
	}
	return v[:19] + frac + "Z", true
}

// compactJSON reports whether the valid JSON text raw has no whitespace
// outside its strings, so that json.Compact would return it unchanged. It
// checks the simpler property that raw holds no space, tab, CR or LF at
// all (a space inside a string makes it answer false, which only costs the
// general path).
func compactJSON(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}
