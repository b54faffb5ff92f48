package fetch

import (
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
	vc := getValueCache()
	defer putValueCache(vc)
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
		// Most elements lie whole in the buffer: parse them straight from it.
		// An element the buffer cuts short fails there; its end is found
		// (reading on) and it is parsed again, as is one that is not plain.
		ch := new(billing.PayableCharge) // fresh: h may keep the pointer
		size, ok := parsePayableCharge(rec.buf[j:], ch, vc)
		end := j + size
		if !ok || size > maxFastElem {
			if end, ok = rec.objectEnd(j); !ok {
				return at, n, false, nil
			}
			ch = new(billing.PayableCharge)
			if !fastPayableCharge(rec.buf[j:end], ch, vc) {
				return at, n, false, nil
			}
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
		buf := rc.buf
		for k < len(buf) {
			if inStr {
				for k < len(buf) && !inStringStop[buf[k]] {
					k++
				}
				switch {
				case k >= len(buf):
				case buf[k] == '"':
					inStr = false
					k++
				default: // a backslash: skip it and the byte it escapes (which may not be read yet)
					k += 2
				}
				continue
			}
			for k < len(buf) && !structural[buf[k]] {
				k++
			}
			if k >= len(buf) {
				break
			}
			switch buf[k] {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			default: // '}', ']'
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

// inStringStop marks the bytes that end a run of plain string bytes;
// structural the bytes objectEnd looks at outside strings.
var inStringStop, structural = func() (in, out [256]bool) {
	in['"'], in['\\'] = true, true
	for _, c := range []byte(`"{}[]`) {
		out[c] = true
	}
	return in, out
}()

var payableFields = newFieldSet(payableField, "productId", "productName", "sku", "chargeId", "chargeName",
	"chargeType", "billingCycleType", "periodFrom", "periodTo", "quantity", "listPrice", "netPrice",
	"netPriceProrated", "subTotal", "currency", "isBilled", "isProratable", "deductions", "fees", "invoice",
	"taxes", "tags")

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

var (
	deductionFields = newFieldSet(nil, "code", "name", "deductionType", "value", "unitValue", "totalValue")
	feeFields       = newFieldSet(nil, "name", "unitValue", "totalValue", "isTaxable")
	taxFields       = newFieldSet(nil, "name", "appliedRate")
	tagFields       = newFieldSet(nil, "name", "value")
	invoiceFields   = newFieldSet(nil, "number", "date", "periodFrom", "periodTo")
)

// fieldSet is the members of one JSON object type the fast paths decode:
// their keys in the order the API sends them, the same keys as written
// (quoted, for jsonscan's KeyIs), and an optional lookup of a key's index
// (nil: a linear search of names).
type fieldSet struct {
	names  []string
	quoted []string
	lookup func(string) int
}

// newFieldSet returns the fieldSet of names (at most 64, plain ASCII).
func newFieldSet(lookup func(string) int, names ...string) *fieldSet {
	if len(names) > 64 {
		panic("fetch: more than 64 fields")
	}
	fs := &fieldSet{names: names, lookup: lookup}
	for _, n := range names {
		for i := 0; i < len(n); i++ {
			if c := n[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				panic("fetch: field name " + n + " is not plain")
			}
		}
		fs.quoted = append(fs.quoted, `"`+n+`"`)
	}
	return fs
}

// index returns the field whose name is k, or -1.
func (fs *fieldSet) index(k string) int {
	if fs.lookup != nil {
		return fs.lookup(k)
	}
	for i, n := range fs.names {
		if n == k {
			return i
		}
	}
	return -1
}

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
// the recorder reuses, or taken from vc (nil: none) when it repeats.
func fastPayableCharge(b []byte, c *billing.PayableCharge, vc *valueCache) bool {
	size, ok := parsePayableCharge(b, c, vc)
	if !ok {
		return false
	}
	for _, c := range b[size:] { // only spaces may follow
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// parsePayableCharge is fastPayableCharge for the charge element at the
// start of b, which may go on after it: it returns the element's size.
func parsePayableCharge(b []byte, c *billing.PayableCharge, vc *valueCache) (size int, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	s := jsonscan.New(unsafe.String(&b[0], len(b)))
	if !fields(s, payableFields, func(f int) bool { return payableMember(s, vc, c, f) }) {
		return 0, false
	}
	return s.Offset(), true
}

// fields calls fn for each member of the object at s whose key fs knows;
// fn reads the value. It gives up on a key that is not plain ASCII, on a
// duplicate field and on an unknown key that matches one of the names
// case-insensitively (encoding/json would fold it onto that field). Other
// unknown members are skipped (and checked).
//
// The members usually come in the order of fs, so the field after the
// last one read is tried first, matched against the input as written
// (jsonscan's KeyIs) without reading the key on its own.
func fields(s *jsonscan.Scanner, fs *fieldSet, fn func(field int) bool) bool {
	var seen uint64
	next := 0
	for more := s.ObjectStart(); more; more = s.ObjectNext() {
		field := next
		if next >= len(fs.quoted) || !s.KeyIs(fs.quoted[next]) {
			k := s.Key()
			if s.Err() != nil {
				return false
			}
			for i := 0; i < len(k); i++ {
				if k[i] >= utf8.RuneSelf {
					s.Fail(notPlain)
					return false
				}
			}
			if field = fs.index(k); field < 0 {
				for _, n := range fs.names {
					if strings.EqualFold(n, k) {
						s.Fail(notPlain)
						return false
					}
				}
				s.Raw()
				continue
			}
		}
		if seen&(1<<field) != 0 || !fn(field) {
			s.Fail(notPlain)
			return false
		}
		seen |= 1 << field
		next = field + 1
	}
	return s.Err() == nil
}

func payableMember(s *jsonscan.Scanner, vc *valueCache, c *billing.PayableCharge, f int) bool {
	switch f {
	case 0:
		return stringField(s, vc, &c.ProductID)
	case 1:
		return stringField(s, vc, &c.ProductName)
	case 2:
		return stringField(s, vc, &c.SKU)
	case 3:
		return stringField(s, nil, &c.ChargeID)
	case 4:
		return stringField(s, vc, &c.ChargeName)
	case 5:
		return stringField(s, vc, &c.ChargeType)
	case 6:
		return stringField(s, vc, &c.BillingCycleType)
	case 7:
		return dateField(s, vc, &c.PeriodFrom)
	case 8:
		return dateField(s, vc, &c.PeriodTo)
	case 9:
		return moneyField(s, vc, &c.Quantity)
	case 10:
		return moneyField(s, vc, &c.ListPrice)
	case 11:
		return moneyField(s, vc, &c.NetPrice)
	case 12:
		return moneyField(s, vc, &c.NetPriceProrated)
	case 13:
		return moneyField(s, vc, &c.SubTotal)
	case 14:
		return stringField(s, vc, &c.Currency)
	case 15:
		return boolPtrField(s, vc, &c.IsBilled)
	case 16:
		return boolPtrField(s, vc, &c.IsProratable)
	case 17:
		return sliceField(s, &c.Deductions, func(d *billing.Deduction) bool {
			return fields(s, deductionFields, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, vc, &d.Code)
				case 1:
					return stringField(s, vc, &d.Name)
				case 2:
					return stringField(s, vc, &d.DeductionType)
				case 3:
					return moneyField(s, vc, &d.Value)
				case 4:
					return moneyField(s, vc, &d.UnitValue)
				default:
					return moneyField(s, vc, &d.TotalValue)
				}
			})
		})
	case 18:
		return sliceField(s, &c.Fees, func(fee *billing.Fee) bool {
			return fields(s, feeFields, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, vc, &fee.Name)
				case 1:
					return moneyField(s, vc, &fee.UnitValue)
				case 2:
					return moneyField(s, vc, &fee.TotalValue)
				default:
					return boolPtrField(s, vc, &fee.IsTaxable)
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
			return fields(s, invoiceFields, func(f int) bool {
				switch f {
				case 0:
					return stringField(s, vc, &inv.Number)
				case 1:
					return dateField(s, vc, &inv.Date)
				case 2:
					return dateField(s, vc, &inv.PeriodFrom)
				default:
					return dateField(s, vc, &inv.PeriodTo)
				}
			})
		}
		return false
	case 20:
		return sliceField(s, &c.Taxes, func(t *billing.Tax) bool {
			return fields(s, taxFields, func(f int) bool {
				if f == 0 {
					return stringField(s, vc, &t.Name)
				}
				return moneyField(s, vc, &t.AppliedRate)
			})
		})
	case 21:
		return sliceField(s, &c.Tags, func(t *billing.Tag) bool {
			return fields(s, tagFields, func(f int) bool {
				if f == 0 {
					return stringField(s, vc, &t.Name)
				}
				return stringField(s, vc, &t.Value)
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
	out := make([]T, 0) // no allocation until the first element
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
	in, ok := unescaped(raw)
	switch {
	case ok:
		return strings.Clone(in), true
	case utf8.ValidString(in):
		// Escapes in valid UTF-8: jsonscan decodes them into a string of
		// its own, as encoding/json does (FuzzScan compares the two).
		sc := jsonscan.New(raw)
		if v := sc.Str(); sc.End() == nil {
			return v, true
		}
		return "", false
	}
	var v string
	if json.Unmarshal([]byte(raw), &v) != nil {
		return "", false
	}
	return v, true
}

// unescaped returns the text between the quotes of the raw JSON string raw
// when that text is its decoded value, as encoding/json decodes it: no
// escapes, and valid UTF-8 (encoding/json replaces each invalid byte with
// U+FFFD). raw must be a string token the scanner has checked.
func unescaped(raw string) (in string, ok bool) {
	in = raw[1 : len(raw)-1]
	return in, strings.IndexByte(in, '\\') < 0 && utf8.ValidString(in)
}

// stringField stores a string member (null leaves dst as is, like
// encoding/json); a plain one (ASCII, no escapes) comes from vc.
func stringField(s *jsonscan.Scanner, vc *valueCache, dst *string) bool {
	switch s.Peek() {
	case '"':
		raw, plain := s.RawString()
		if plain {
			*dst = vc.str(raw[1 : len(raw)-1])
			return true
		}
		if raw == "" {
			return false
		}
		if in, ok := unescaped(raw); ok { // not ASCII, but no escapes
			*dst = vc.str(in)
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
// yyyy-MM-dd comes from vc.
func dateField(s *jsonscan.Scanner, vc *valueCache, dst *billing.Date) bool {
	var raw string
	if s.Peek() == '"' {
		var plain bool
		raw, plain = s.RawString()
		if plain && len(raw) == 12 && plainDate(raw[1:11]) {
			*dst = billing.Date(vc.str(raw[1:11]))
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

// boolPtrField stores a *bool member as encoding/json does: null is nil,
// true and false a pointer of its own (from vc's cells).
func boolPtrField(s *jsonscan.Scanner, vc *valueCache, dst **bool) bool {
	v, null := s.BoolOrNull()
	switch {
	case s.Err() != nil:
		return false
	case null:
		*dst = nil
	default:
		*dst = vc.boolPtr(v)
	}
	return true
}

// moneyField decodes a decimal member exactly as decimal.NullDecimal's
// UnmarshalJSON does (it is called for anything but the plain literal forms,
// which are parsed here as decimal.NewFromString parses them).
func moneyField(s *jsonscan.Scanner, vc *valueCache, dst *decimal.NullDecimal) bool {
	var raw string
	if c := s.Peek(); c == '-' || c >= '0' && c <= '9' {
		raw = s.Number()
	} else {
		raw = s.Raw()
	}
	if raw == "" {
		return false
	}
	lit := raw
	if len(lit) > 2 && lit[0] == '"' && lit[len(lit)-1] == '"' {
		lit = lit[1 : len(lit)-1]
	}
	if v, exp, ok := billing.PlainDecimal(lit); ok {
		dst.Decimal, dst.Valid = vc.dec(v, exp), true
		return true
	}
	return dst.UnmarshalJSON([]byte(raw)) == nil
}
