package fetch

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// This file is the fast path of the payable stream decoder: the elements of
// the charges array are cut out of the recorder's buffer and parsed in place
// by hand (fastPayableCharge), one fresh *billing.PayableCharge each. At the
// first element that is not plain (see fastPayableCharge), that is cut short
// by the end of the stream or a read error, or that is not followed by ','
// or ']', fastCharges stops and decodeCharges resumes with encoding/json at
// that element, which then decodes it or reports the precise error. So the
// fast path changes how fast charges are decoded, never what is decoded.

// maxFastElem bounds the element the fast path buffers: a longer one (or a
// malformed one whose end cannot be found) is left to encoding/json.
const maxFastElem = 1 << 20

// fastCharges reads charges from stream offset at, just after the '[' of the
// charges array. It returns the offset where it stopped and the number of
// charges it delivered; closed reports that it read the closing ']' (stop is
// then just after it). Otherwise stop is just after the last delivered
// charge (or at, when none was), where encoding/json must resume. err is a
// validation or handler error of a charge, as the slow path reports it.
func fastCharges(rec *recorder, at int64, h PayableHandler) (stop int64, n int, closed bool, err error) {
	strs := getStrCache()
	defer putStrCache(strs)
	for ; ; n++ {
		rec.keepFrom(at)
		j, ok := rec.skipSpace(int(at - rec.base))
		if !ok {
			return at, n, false, nil
		}
		switch c := rec.buf[j]; {
		case c == ']':
			return rec.base + int64(j) + 1, n, true, nil
		case n > 0 && c == ',':
			if j, ok = rec.skipSpace(j + 1); !ok {
				return at, n, false, nil
			}
		case n > 0:
			return at, n, false, nil
		}
		if rec.buf[j] != '{' {
			return at, n, false, nil
		}
		end, ok := rec.objectEnd(j)
		if !ok {
			return at, n, false, nil
		}
		ch := new(billing.PayableCharge) // fresh: h may keep the pointer
		if !fastPayableCharge(rec.buf[j:end], ch, strs) {
			return at, n, false, nil
		}
		if err := deliverCharge(h, n, ch); err != nil {
			return at, n, false, err
		}
		at = rec.base + int64(end)
	}
}

// skipSpace returns the index of the first non-space byte of buf at or after
// j, reading more when needed.
func (rc *recorder) skipSpace(j int) (int, bool) {
	for {
		for ; j < len(rc.buf); j++ {
			switch rc.buf[j] {
			case ' ', '\t', '\r', '\n':
			default:
				return j, true
			}
		}
		if !rc.fill() {
			return 0, false
		}
	}
}

// objectEnd returns the index just after the object starting at buf[j],
// found by counting brackets outside strings (the JSON is checked later),
// reading more when needed.
func (rc *recorder) objectEnd(j int) (int, bool) {
	depth, k := 0, j
	inStr := false
	for {
		for k < len(rc.buf) {
			if inStr {
				q := closingQuote(rc.buf, k)
				if q < 0 {
					k = len(rc.buf) - trailingBackslashes(rc.buf)
					break
				}
				k, inStr = q+1, false
				continue
			}
			switch rc.buf[k] {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return k + 1, true
				}
			}
			k++
		}
		if k-j > maxFastElem || !rc.fill() {
			return 0, false
		}
	}
}

// closingQuote returns the index of the first '"' at or after k in b that is
// not escaped (k is inside a string), or -1.
func closingQuote(b []byte, k int) int {
	for {
		q := bytes.IndexByte(b[k:], '"')
		if q < 0 {
			return -1
		}
		q += k
		if trailingBackslashes(b[:q])%2 == 0 {
			return q
		}
		k = q + 1
	}
}

// trailingBackslashes counts the backslashes b ends with.
func trailingBackslashes(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	return n
}

var payableNames = []string{"productId", "productName", "sku", "chargeId", "chargeName", "chargeType",
	"billingCycleType", "periodFrom", "periodTo", "quantity", "listPrice", "netPrice", "netPriceProrated",
	"subTotal", "currency", "isBilled", "isProratable", "deductions", "fees", "invoice", "taxes", "tags"}

func payableField(k string) int {
	switch k {
	case "productId":
		return 0
	case "productName":
		return 1
	case "sku":
		return 2
	case "chargeId":
		return 3
	case "chargeName":
		return 4
	case "chargeType":
		return 5
	case "billingCycleType":
		return 6
	case "periodFrom":
		return 7
	case "periodTo":
		return 8
	case "quantity":
		return 9
	case "listPrice":
		return 10
	case "netPrice":
		return 11
	case "netPriceProrated":
		return 12
	case "subTotal":
		return 13
	case "currency":
		return 14
	case "isBilled":
		return 15
	case "isProratable":
		return 16
	case "deductions":
		return 17
	case "fees":
		return 18
	case "invoice":
		return 19
	case "taxes":
		return 20
	case "tags":
		return 21
	}
	return -1
}

var deductionNames = []string{"code", "name", "deductionType", "value", "unitValue", "totalValue"}

var feeNames = []string{"name", "unitValue", "totalValue", "isTaxable"}

var taxNames = []string{"name", "appliedRate"}

var tagNames = []string{"name", "value"}

var invoiceNames = []string{"number", "date", "periodFrom", "periodTo"}

// nameIndex is the field lookup of the small nested objects.
func nameIndex(names []string) func(string) int {
	return func(k string) int {
		for i, n := range names {
			if n == k {
				return i
			}
		}
		return -1
	}
}

var (
	deductionField = nameIndex(deductionNames)
	feeField       = nameIndex(feeNames)
	taxField       = nameIndex(taxNames)
	tagField       = nameIndex(tagNames)
	invoiceField   = nameIndex(invoiceNames)
)

// notPlain makes the scanner give up on an element the fast path leaves
// to encoding/json.
const notPlain = "not plain: left to encoding/json"

// fastPayableCharge decodes one charge element b (a JSON object) into c as
// encoding/json would, or reports false when b is not plain: not valid JSON,
// a key that is not plain ASCII or only matches a field case-insensitively,
// a duplicate field, a value of the wrong type, a bad decimal or date, a null
// element in a nested array. c is then partly filled and must be dropped.
//
// b is read in place through the shared scanner (jsonscan), which checks
// the JSON grammar as it goes; every string kept is copied out of b, which
// the recorder reuses, or taken from strs (nil: none) when it repeats.
func fastPayableCharge(b []byte, c *billing.PayableCharge, strs *strCache) bool {
	if len(b) == 0 {
		return false
	}
	s := jsonscan.New(unsafe.String(&b[0], len(b)))
	return fields(s, payableNames, payableField, func(f int) bool { return payableMember(s, strs, c, f) }) && s.End() == nil
}

// fields calls fn for each member of the object at s whose key lookup
// (or a linear search of names, when lookup is nil) knows; fn reads the value. It gives up on a key that is not plain ASCII,
// on a duplicate field and on an unknown key that matches one of names
// case-insensitively (encoding/json would fold it onto that field). Other
// unknown members are skipped (and checked).
func fields(s *jsonscan.Scanner, names []string, lookup func(string) int, fn func(field int) bool) bool {
	var seen uint64
	s.Object(func(k string) {
		for i := 0; i < len(k); i++ {
			if k[i] >= utf8.RuneSelf {
				s.Fail(notPlain)
				return
			}
		}
		field := -1
		if lookup != nil {
			field = lookup(k)
		} else {
			for i, n := range names {
				if n == k {
					field = i
					break
				}
			}
		}
		if field >= 0 {
			if seen&(1<<field) != 0 || !fn(field) {
				s.Fail(notPlain)
			}
			seen |= 1 << field
			return
		}
		for _, n := range names {
			if strings.EqualFold(n, k) {
				s.Fail(notPlain)
				return
			}
		}
		s.Raw()
	})
	return s.Err() == nil
}

func payableMember(s *jsonscan.Scanner, strs *strCache, c *billing.PayableCharge, f int) bool {
	switch f {
	case 0:
		return stringField(s, strs, &c.ProductID)
	case 1:
		return stringField(s, strs, &c.ProductName)
	case 2:
		return stringField(s, strs, &c.SKU)
	case 3:
		return stringField(s, nil, &c.ChargeID)
	case 4:
		return stringField(s, strs, &c.ChargeName)
	case 5:
		return stringField(s, strs, &c.ChargeType)
	case 6:
		return stringField(s, strs, &c.BillingCycleType)
	case 7:
		return dateField(s, strs, &c.PeriodFrom)
	case 8:
		return dateField(s, strs, &c.PeriodTo)
	case 9:
		return moneyField(s, &c.Quantity)
	case 10:
		return moneyField(s, &c.ListPrice)
	case 11:
		return moneyField(s, &c.NetPrice)
	case 12:
		return moneyField(s, &c.NetPriceProrated)
	case 13:
		return moneyField(s, &c.SubTotal)
	case 14:
		return stringField(s, strs, &c.Currency)
	case 15:
		return boolPtrField(s, &c.IsBilled)
	case 16:
		return boolPtrField(s, &c.IsProratable)
	case 17:
		return sliceField(s, &c.Deductions, func(d *billing.Deduction) bool {
			return fields(s, deductionNames, deductionField, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, strs, &d.Code)
				case 1:
					return stringField(s, strs, &d.Name)
				case 2:
					return stringField(s, strs, &d.DeductionType)
				case 3:
					return moneyField(s, &d.Value)
				case 4:
					return moneyField(s, &d.UnitValue)
				default:
					return moneyField(s, &d.TotalValue)
				}
			})
		})
	case 18:
		return sliceField(s, &c.Fees, func(fee *billing.Fee) bool {
			return fields(s, feeNames, feeField, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, strs, &fee.Name)
				case 1:
					return moneyField(s, &fee.UnitValue)
				case 2:
					return moneyField(s, &fee.TotalValue)
				default:
					return boolPtrField(s, &fee.IsTaxable)
				}
			})
		})
	case 19:
		switch s.Peek() {
		case 'n':
			c.Invoice = nil
			return s.Null()
		case '{':
			inv := new(billing.Invoice)
			c.Invoice = inv
			return fields(s, invoiceNames, invoiceField, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, strs, &inv.Number)
				case 1:
					return dateField(s, strs, &inv.Date)
				case 2:
					return dateField(s, strs, &inv.PeriodFrom)
				default:
					return dateField(s, strs, &inv.PeriodTo)
				}
			})
		}
		return false
	case 20:
		return sliceField(s, &c.Taxes, func(t *billing.Tax) bool {
			return fields(s, taxNames, taxField, func(f int) bool {
				if f == 0 {
					return stringField(s, strs, &t.Name)
				}
				return moneyField(s, &t.AppliedRate)
			})
		})
	case 21:
		return sliceField(s, &c.Tags, func(t *billing.Tag) bool {
			return fields(s, tagNames, tagField, func(f int) bool {
				if f == 0 {
					return stringField(s, strs, &t.Name)
				}
				return stringField(s, strs, &t.Value)
			})
		})
	}
	return false
}

// sliceField decodes null (nil) or an array of objects, each by elem, into
// *dst as encoding/json would: [] becomes an empty, non-nil slice. A null
// element makes it give up.
func sliceField[T any](s *jsonscan.Scanner, dst *[]T, elem func(*T) bool) bool {
	switch s.Peek() {
	case 'n':
		*dst = nil
		return s.Null()
	case '[':
	default:
		return false
	}
	out := make([]T, 0, 1)
	s.Array(func() {
		if s.Peek() != '{' {
			s.Fail(notPlain)
			return
		}
		var zero T
		out = append(out, zero)
		if !elem(&out[len(out)-1]) {
			s.Fail(notPlain)
		}
	})
	*dst = out
	return s.Err() == nil
}

// str decodes a raw JSON string value as encoding/json would, into a string
// of its own (raw is a view of the recorder's buffer).
func str(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for i := 0; i < len(in); i++ {
		if c := in[i]; c == '\\' || c >= utf8.RuneSelf {
			var v string
			if json.Unmarshal([]byte(raw), &v) != nil {
				return "", false
			}
			return v, true
		}
	}
	return strings.Clone(in), true
}

// stringField stores a string member (null leaves dst as is, like
// encoding/json); a plain one (ASCII, no escapes) comes from strs.
func stringField(s *jsonscan.Scanner, strs *strCache, dst *string) bool {
	switch s.Peek() {
	case '"':
		raw, plain := s.RawString()
		if plain {
			*dst = strs.get(raw[1 : len(raw)-1])
			return true
		}
		v, ok := str(raw)
		*dst = v
		return ok
	case 'n':
		return s.Null()
	}
	return false
}

// dateField stores a date member as billing.Date's decoder does; a plain
// yyyy-MM-dd comes from strs.
func dateField(s *jsonscan.Scanner, strs *strCache, dst *billing.Date) bool {
	var raw string
	if s.Peek() == '"' {
		var plain bool
		raw, plain = s.RawString()
		if plain && len(raw) == 12 && plainDate(raw[1:11]) {
			*dst = billing.Date(strs.get(raw[1:11]))
			return true
		}
		if v, ok := str(raw); ok && v != "" {
			d, err := billing.ParseDate(v)
			*dst = d
			return err == nil
		}
	} else {
		raw = s.Raw()
	}
	return raw != "" && dst.UnmarshalJSON([]byte(raw)) == nil
}

func boolPtrField(s *jsonscan.Scanner, dst **bool) bool {
	*dst = s.Bool()
	return s.Err() == nil
}

// moneyField decodes a decimal member exactly as decimal.NullDecimal's
// UnmarshalJSON does (it is called for anything but the plain literal forms,
// which are parsed here as decimal.NewFromString parses them).
func moneyField(s *jsonscan.Scanner, dst *decimal.NullDecimal) bool {
	raw := s.Raw()
	if raw == "" {
		return false
	}
	if v, exp, ok := plainDecimal(raw); ok {
		dst.Decimal, dst.Valid = decimal.New(v, exp), true
		return true
	}
	return dst.UnmarshalJSON([]byte(raw)) == nil
}

// plainDecimal parses -?digits(.digits)?, optionally in quotes, with at most
// 18 characters besides the point and quotes: the forms decimal.NewFromString
// parses into an int64 mantissa with exponent -(digits after the point), the
// value decimal.New(v, exp) builds the same way.
func plainDecimal(raw string) (v int64, exp int32, ok bool) {
	if len(raw) > 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	i, neg := 0, false
	if len(raw) > 0 && raw[0] == '-' {
		i, neg = 1, true
	}
	start, point := i, -1
	for ; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			v = v*10 + int64(c-'0')
		case c == '.' && point < 0 && i > start:
			point = i
		default:
			return 0, 0, false
		}
	}
	numLen := len(raw)
	if point >= 0 {
		if point == len(raw)-1 {
			return 0, 0, false
		}
		numLen--
		exp = -int32(len(raw) - point - 1)
	}
	if i == start || numLen > 18 {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, exp, true
}
