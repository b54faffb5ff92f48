package fetch

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
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

// payableFastPath turns the fast path on; tests turn it off to get the
// encoding/json results to compare with.
var payableFastPath = true

// fastCharges reads charges from stream offset at, just after the '[' of the
// charges array. It returns the offset where it stopped and the number of
// charges it delivered; closed reports that it read the closing ']' (stop is
// then just after it). Otherwise stop is just after the last delivered
// charge (or at, when none was), where encoding/json must resume. err is a
// validation or handler error of a charge, as the slow path reports it.
func fastCharges(rec *recorder, at int64, h PayableHandler) (stop int64, n int, closed bool, err error) {
	if !payableFastPath {
		return at, 0, false, nil
	}
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
		if !fastPayableCharge(rec.buf[j:end], ch) {
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

func payableField(k []byte) int {
	switch string(k) {
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

// fieldIndex finds key k with lookup, or by a linear search of names when
// lookup is nil (the small objects of receivables and subscriptions).
func fieldIndex(names []string, lookup func([]byte) int, k []byte) int {
	if lookup != nil {
		return lookup(k)
	}
	for i, n := range names {
		if n == string(k) {
			return i
		}
	}
	return -1
}

// nameIndex is the field lookup of the small nested objects.
func nameIndex(names []string) func([]byte) int {
	return func(k []byte) int {
		for i, n := range names {
			if n == string(k) {
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

// fastPayableCharge decodes one charge element b (a JSON object) into c as
// encoding/json would, or reports false when b is not plain: not valid JSON,
// a key that is not plain ASCII or only matches a field case-insensitively,
// a duplicate field, a value of the wrong type, a bad decimal or date, a null
// element in a nested array. c is then partly filled and must be dropped.
func fastPayableCharge(b []byte, c *billing.PayableCharge) bool {
	if !json.Valid(b) {
		return false
	}
	s := &jscan{b: b}
	return s.fields(payableNames, payableField, func(f int) bool { return s.payableField(c, f) }) && s.peek() == 0
}

// fields calls fn for each member of the object
// at s.i whose key lookup (or names, when lookup is nil) knows; fn reads the value. It gives up on a key that
// is not plain ASCII, on a duplicate field and on an unknown key that matches
// one of names case-insensitively (encoding/json would fold it onto that
// field). Other unknown members are skipped.
func (s *jscan) fields(names []string, lookup func([]byte) int, fn func(field int) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	var seen uint64
	for {
		if s.peek() != '"' {
			return false
		}
		raw := s.value()
		k := raw[1 : len(raw)-1]
		for _, c := range k {
			if c == '\\' || c >= 0x80 {
				return false
			}
		}
		if s.peek() != ':' {
			return false
		}
		s.i++
		if field := fieldIndex(names, lookup, k); field >= 0 {
			if seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
			if !fn(field) {
				return false
			}
		} else {
			for _, n := range names {
				if strings.EqualFold(n, string(k)) {
					return false
				}
			}
			s.value()
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *jscan) payableField(c *billing.PayableCharge, f int) bool {
	switch f {
	case 0:
		return s.stringField(&c.ProductID)
	case 1:
		return s.stringField(&c.ProductName)
	case 2:
		return s.stringField(&c.SKU)
	case 3:
		return s.stringField(&c.ChargeID)
	case 4:
		return s.stringField(&c.ChargeName)
	case 5:
		return s.stringField(&c.ChargeType)
	case 6:
		return s.stringField(&c.BillingCycleType)
	case 7:
		return s.dateField(&c.PeriodFrom)
	case 8:
		return s.dateField(&c.PeriodTo)
	case 9:
		return s.moneyField(&c.Quantity)
	case 10:
		return s.moneyField(&c.ListPrice)
	case 11:
		return s.moneyField(&c.NetPrice)
	case 12:
		return s.moneyField(&c.NetPriceProrated)
	case 13:
		return s.moneyField(&c.SubTotal)
	case 14:
		return s.stringField(&c.Currency)
	case 15:
		return s.boolPtrField(&c.IsBilled)
	case 16:
		return s.boolPtrField(&c.IsProratable)
	case 17:
		return sliceField(s, &c.Deductions, func(d *billing.Deduction) bool {
			return s.fields(deductionNames, deductionField, func(f int) bool {
				switch f {
				case 0:
					return s.stringField(&d.Code)
				case 1:
					return s.stringField(&d.Name)
				case 2:
					return s.stringField(&d.DeductionType)
				case 3:
					return s.moneyField(&d.Value)
				case 4:
					return s.moneyField(&d.UnitValue)
				default:
					return s.moneyField(&d.TotalValue)
				}
			})
		})
	case 18:
		return sliceField(s, &c.Fees, func(fee *billing.Fee) bool {
			return s.fields(feeNames, feeField, func(f int) bool {
				switch f {
				case 0:
					return s.stringField(&fee.Name)
				case 1:
					return s.moneyField(&fee.UnitValue)
				case 2:
					return s.moneyField(&fee.TotalValue)
				default:
					return s.boolPtrField(&fee.IsTaxable)
				}
			})
		})
	case 19:
		switch s.peek() {
		case 'n':
			s.value()
			c.Invoice = nil
			return true
		case '{':
			inv := new(billing.Invoice)
			c.Invoice = inv
			return s.fields(invoiceNames, invoiceField, func(f int) bool {
				switch f {
				case 0:
					return s.stringField(&inv.Number)
				case 1:
					return s.dateField(&inv.Date)
				case 2:
					return s.dateField(&inv.PeriodFrom)
				default:
					return s.dateField(&inv.PeriodTo)
				}
			})
		}
		return false
	case 20:
		return sliceField(s, &c.Taxes, func(t *billing.Tax) bool {
			return s.fields(taxNames, taxField, func(f int) bool {
				if f == 0 {
					return s.stringField(&t.Name)
				}
				return s.moneyField(&t.AppliedRate)
			})
		})
	case 21:
		return sliceField(s, &c.Tags, func(t *billing.Tag) bool {
			return s.fields(tagNames, tagField, func(f int) bool {
				if f == 0 {
					return s.stringField(&t.Name)
				}
				return s.stringField(&t.Value)
			})
		})
	}
	return false
}

// sliceField decodes null (nil) or an array of objects, each by elem, into
// *dst as encoding/json would: [] becomes an empty, non-nil slice. A null
// element makes it give up.
func sliceField[T any](s *jscan, dst *[]T, elem func(*T) bool) bool {
	switch s.peek() {
	case 'n':
		s.value()
		*dst = nil
		return true
	case '[':
	default:
		return false
	}
	out := make([]T, 0, 1)
	ok := s.array(func() bool {
		if s.peek() != '{' {
			return false
		}
		var zero T
		out = append(out, zero)
		return elem(&out[len(out)-1])
	})
	*dst = out
	return ok
}

// moneyField decodes a decimal member exactly as decimal.NullDecimal's
// UnmarshalJSON does (it is called for anything but the plain literal forms,
// which are parsed here as decimal.NewFromString parses them).
func (s *jscan) moneyField(dst *decimal.NullDecimal) bool {
	raw := s.value()
	if v, exp, ok := plainDecimal(raw); ok {
		dst.Decimal, dst.Valid = decimal.New(v, exp), true
		return true
	}
	return dst.UnmarshalJSON(raw) == nil
}

// plainDecimal parses -?digits(.digits)?, optionally in quotes, with at most
// 18 characters besides the point and quotes: the forms decimal.NewFromString
// parses into an int64 mantissa with exponent -(digits after the point), the
// value decimal.New(v, exp) builds the same way.
func plainDecimal(raw []byte) (v int64, exp int32, ok bool) {
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
