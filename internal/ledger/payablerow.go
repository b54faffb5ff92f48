package ledger

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// A payable line is stored as the columns it is ordered by (customer_key,
// sku, charge_type, period_from, period_to, currency, charge_id, sub_total,
// quantity) and one JSON object, the detail column, holding every other field:
//
//	{"productId":"..","productName":"..","chargeName":"..","billingCycleType":"..",
//	 "listPrice":"12.50"|null,"netPrice":..,"netPriceProrated":..,
//	 "isBilled":true|false|null,"isProratable":..,
//	 "deductions":[{"code","name","deductionType","value","unitValue","totalValue"}]|null,
//	 "fees":[{"name","unitValue","totalValue","isTaxable"}]|null,
//	 "taxes":[{"name","appliedRate"}]|null,
//	 "tags":[{"name","value"}]|null,
//	 "invoice":{"number","date","periodFrom","periodTo"}|null}
//
// The object is written by hand in that key order (no reflection) and read
// back by a small parser (payableDetail) that accepts any key order and
// whitespace. Decimals are JSON strings in billing.Text form, so they are as
// exact as the columns; null is an absent value or a null list, [] an empty
// list.

// payableCols is the number of values of insert_payable.
const payableCols = 13

// rowCodec turns a payable charge into the values of insert_payable. It
// reuses its buffers, so one codec serves one goroutine, and the string
// values it returns are only valid until its next call (they are bound, and
// so copied by SQLite, before that).
type rowCodec struct {
	buf  []byte // money texts and the detail object
	hbuf []byte // canonical encoding for the content hash
	enc  canon
	args [payableCols]driver.NamedValue
}

// view is a string sharing b's bytes: valid while b is not written again.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// payableArgs returns the insert_payable values of c, the lineNo-th line of
// run runID.
func (r *rowCodec) payableArgs(runID, lineNo int64, c *billing.PayableCharge) []driver.NamedValue {
	b := r.buf[:0]
	subStart := len(b)
	if c.SubTotal.Valid {
		b = appendDecimal(b, c.SubTotal.Decimal)
	}
	qtyStart := len(b)
	if c.Quantity.Valid {
		b = appendDecimal(b, c.Quantity.Decimal)
	}
	detStart := len(b)
	b = appendPayableDetail(b, c)
	r.buf = b
	// The views are taken after the last append: b is not reallocated any more.
	var sub, qty any
	if c.SubTotal.Valid {
		sub = view(b[subStart:qtyStart])
	}
	if c.Quantity.Valid {
		qty = view(b[qtyStart:detStart])
	}
	detail := view(b[detStart:])

	e := &r.enc
	e.reset()
	e.payableHashed(c, &r.hbuf)
	r.hbuf = appendContentHash(r.hbuf[:0], e.buf)

	vals := [payableCols]any{runID, lineNo, customerKey(c.Tags), c.SKU, c.ChargeType, string(c.PeriodFrom),
		string(c.PeriodTo), c.Currency, c.ChargeID, sub, qty, detail, view(r.hbuf)}
	for i, v := range vals {
		r.args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return r.args[:]
}

// payableHashed writes what the content_hash of a payable line is computed
// from: its business fields in the order and form of the first ledger layout
// (one value per field, nested lists as their JSON text), so the hash, and the
// order of lines equal in every other ORDER BY column, did not change when
// the fields moved into the detail column. scratch is a reusable buffer.
func (e *canon) payableHashed(c *billing.PayableCharge, scratch *[]byte) {
	for _, s := range [...]string{c.ProductID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName, c.ChargeType,
		c.BillingCycleType, string(c.PeriodFrom), string(c.PeriodTo)} {
		e.str(s)
	}
	e.dec(c.Quantity)
	e.dec(c.ListPrice)
	e.dec(c.NetPrice)
	e.dec(c.NetPriceProrated)
	e.dec(c.SubTotal)
	e.str(c.Currency)
	e.intBool(c.IsBilled)
	e.intBool(c.IsProratable)
	b := *scratch
	if c.Deductions != nil {
		b = appendDeductions(b[:0], c.Deductions)
		e.str(view(b))
	} else {
		e.null()
	}
	if c.Fees != nil {
		b = appendFees(b[:0], c.Fees)
		e.str(view(b))
	} else {
		e.null()
	}
	if c.Taxes != nil {
		b = appendTaxes(b[:0], c.Taxes)
		e.str(view(b))
	} else {
		e.null()
	}
	if c.Tags != nil {
		b = appendTags(b[:0], c.Tags)
		e.str(view(b))
	} else {
		e.null()
	}
	if c.Invoice != nil {
		b = appendInvoice(b[:0], c.Invoice)
		e.str(view(b))
	} else {
		e.null()
	}
	*scratch = b
}

// intBool writes a boolean as the first layout stored it: an INTEGER column
// value 1 or 0 (tag 2, zigzag varint), or null.
func (e *canon) intBool(b *bool) {
	switch {
	case b == nil:
		e.null()
	case *b:
		e.buf = append(e.buf, 2, 2)
	default:
		e.buf = append(e.buf, 2, 0)
	}
}

// payableKey writes the key columns sku .. charge_id of c.
func (e *canon) payableKey(c *billing.PayableCharge) {
	e.str(c.SKU)
	e.str(c.ChargeType)
	e.str(string(c.PeriodFrom))
	e.str(string(c.PeriodTo))
	e.str(c.Currency)
	e.str(c.ChargeID)
}

// appendPayableDetail appends the detail object of c.
func appendPayableDetail(b []byte, c *billing.PayableCharge) []byte {
	b = append(b, `{"productId":`...)
	b = billing.AppendJSONString(b, c.ProductID)
	b = append(b, `,"productName":`...)
	b = billing.AppendJSONString(b, c.ProductName)
	b = append(b, `,"chargeName":`...)
	b = billing.AppendJSONString(b, c.ChargeName)
	b = append(b, `,"billingCycleType":`...)
	b = billing.AppendJSONString(b, c.BillingCycleType)
	b = append(b, `,"listPrice":`...)
	b = appendJSONDecimal(b, c.ListPrice)
	b = append(b, `,"netPrice":`...)
	b = appendJSONDecimal(b, c.NetPrice)
	b = append(b, `,"netPriceProrated":`...)
	b = appendJSONDecimal(b, c.NetPriceProrated)
	b = append(b, `,"isBilled":`...)
	b = appendJSONBool(b, c.IsBilled)
	b = append(b, `,"isProratable":`...)
	b = appendJSONBool(b, c.IsProratable)
	b = append(b, `,"deductions":`...)
	b = appendDeductions(b, c.Deductions)
	b = append(b, `,"fees":`...)
	b = appendFees(b, c.Fees)
	b = append(b, `,"taxes":`...)
	b = appendTaxes(b, c.Taxes)
	b = append(b, `,"tags":`...)
	b = appendTags(b, c.Tags)
	b = append(b, `,"invoice":`...)
	b = appendInvoice(b, c.Invoice)
	return append(b, '}')
}

func appendDeductions(b []byte, ds []billing.Deduction) []byte {
	if ds == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = billing.AppendJSONString(b, d.Code)
		b = append(b, `,"name":`...)
		b = billing.AppendJSONString(b, d.Name)
		b = append(b, `,"deductionType":`...)
		b = billing.AppendJSONString(b, d.DeductionType)
		b = append(b, `,"value":`...)
		b = appendJSONDecimal(b, d.Value)
		b = append(b, `,"unitValue":`...)
		b = appendJSONDecimal(b, d.UnitValue)
		b = append(b, `,"totalValue":`...)
		b = appendJSONDecimal(b, d.TotalValue)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendFees(b []byte, fs []billing.Fee) []byte {
	if fs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = billing.AppendJSONString(b, f.Name)
		b = append(b, `,"unitValue":`...)
		b = appendJSONDecimal(b, f.UnitValue)
		b = append(b, `,"totalValue":`...)
		b = appendJSONDecimal(b, f.TotalValue)
		b = append(b, `,"isTaxable":`...)
		b = appendJSONBool(b, f.IsTaxable)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendTaxes(b []byte, ts []billing.Tax) []byte {
	if ts == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = billing.AppendJSONString(b, t.Name)
		b = append(b, `,"appliedRate":`...)
		b = appendJSONDecimal(b, t.AppliedRate)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendTags(b []byte, ts []billing.Tag) []byte {
	if ts == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = billing.AppendJSONString(b, t.Name)
		b = append(b, `,"value":`...)
		b = billing.AppendJSONString(b, t.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendInvoice(b []byte, inv *billing.Invoice) []byte {
	if inv == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"number":`...)
	b = billing.AppendJSONString(b, inv.Number)
	b = append(b, `,"date":`...)
	b = billing.AppendJSONString(b, string(inv.Date))
	b = append(b, `,"periodFrom":`...)
	b = billing.AppendJSONString(b, string(inv.PeriodFrom))
	b = append(b, `,"periodTo":`...)
	b = billing.AppendJSONString(b, string(inv.PeriodTo))
	return append(b, '}')
}

// jsonReader is a small JSON parser for the detail object: strings are
// returned as substrings of the input (no copy) unless they hold escapes.
// The first error sticks; later calls return zero values.
type jsonReader struct {
	s   string
	i   int
	err error
}

func (r *jsonReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: "+format, append([]any{r.i}, args...)...)
	}
}

func (r *jsonReader) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (r *jsonReader) peek() byte {
	r.ws()
	if r.err != nil || r.i >= len(r.s) {
		return 0
	}
	return r.s[r.i]
}

func (r *jsonReader) expect(c byte) {
	if r.peek() != c {
		r.fail("want %q", c)
		return
	}
	r.i++
}

// null consumes a null and reports whether there was one.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && len(r.s)-r.i >= 4 && r.s[r.i:r.i+4] == "null" {
		r.i += 4
		return true
	}
	return false
}

func (r *jsonReader) str() string {
	if r.peek() != '"' {
		r.fail("want a string")
		return ""
	}
	r.i++
	start := r.i
	for r.i < len(r.s) {
		switch c := r.s[r.i]; {
		case c == '"':
			v := r.s[start:r.i]
			r.i++
			return v
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			r.fail("control character in string")
			return ""
		default:
			r.i++
		}
	}
	r.fail("unterminated string")
	return ""
}

// escaped finishes a string that holds escapes; start is just after its
// opening quote.
func (r *jsonReader) escaped(start int) string {
	b := []byte(r.s[start:r.i])
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			return string(b)
		case c < 0x20:
			r.fail("control character in string")
			return ""
		case c != '\\':
			b = append(b, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.s) {
			break
		}
		e := r.s[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			ch, ok := r.hex4()
			if !ok {
				return ""
			}
			if utf16.IsSurrogate(ch) {
				if r.i+1 < len(r.s) && r.s[r.i] == '\\' && r.s[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					lo, ok := r.hex4()
					if !ok {
						return ""
					}
					if dec := utf16.DecodeRune(ch, lo); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						continue
					}
					r.i = save
				}
				ch = utf8.RuneError
			}
			b = utf8.AppendRune(b, ch)
		default:
			r.fail("invalid escape \\%c", e)
			return ""
		}
	}
	r.fail("unterminated string")
	return ""
}

func (r *jsonReader) hex4() (rune, bool) {
	if len(r.s)-r.i < 4 {
		r.fail("short \\u escape")
		return 0, false
	}
	v, err := strconv.ParseUint(r.s[r.i:r.i+4], 16, 16)
	if err != nil {
		r.fail("invalid \\u escape")
		return 0, false
	}
	r.i += 4
	return rune(v), true
}

func (r *jsonReader) boolean() *bool {
	if r.null() {
		return nil
	}
	switch {
	case r.peek() == 't' && len(r.s)-r.i >= 4 && r.s[r.i:r.i+4] == "true":
		r.i += 4
		v := true
		return &v
	case r.peek() == 'f' && len(r.s)-r.i >= 5 && r.s[r.i:r.i+5] == "false":
		r.i += 5
		v := false
		return &v
	}
	r.fail("want true, false or null")
	return nil
}

func (r *jsonReader) money() decimal.NullDecimal {
	if r.null() {
		return decimal.NullDecimal{}
	}
	s := r.str()
	if r.err != nil {
		return decimal.NullDecimal{}
	}
	d, err := billing.ParseText(s)
	if err != nil {
		r.fail("%v", err)
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}
}

// object parses an object, calling field for each key; field must consume
// the value.
func (r *jsonReader) object(field func(key string)) {
	r.expect('{')
	if r.peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		key := r.str()
		r.expect(':')
		if r.err != nil {
			return
		}
		field(key)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.fail("want ',' or '}'")
		}
	}
}

// array parses an array, calling elem for each element; elem must consume it.
func (r *jsonReader) array(elem func()) {
	r.expect('[')
	if r.peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		elem()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.fail("want ',' or ']'")
		}
	}
}

func (r *jsonReader) unknown(key string) { r.fail("unknown key %q", key) }

// payableDetail fills c's fields from a detail object.
func payableDetail(s string, c *billing.PayableCharge) error {
	r := &jsonReader{s: s}
	r.object(func(key string) {
		switch key {
		case "productId":
			c.ProductID = r.str()
		case "productName":
			c.ProductName = r.str()
		case "chargeName":
			c.ChargeName = r.str()
		case "billingCycleType":
			c.BillingCycleType = r.str()
		case "listPrice":
			c.ListPrice = r.money()
		case "netPrice":
			c.NetPrice = r.money()
		case "netPriceProrated":
			c.NetPriceProrated = r.money()
		case "isBilled":
			c.IsBilled = r.boolean()
		case "isProratable":
			c.IsProratable = r.boolean()
		case "deductions":
			c.Deductions = r.deductions()
		case "fees":
			c.Fees = r.fees()
		case "taxes":
			c.Taxes = r.taxes()
		case "tags":
			c.Tags = r.tags()
		case "invoice":
			c.Invoice = r.invoice()
		default:
			r.unknown(key)
		}
	})
	return r.end()
}

func (r *jsonReader) deductions() []billing.Deduction {
	if r.null() {
		return nil
	}
	out := []billing.Deduction{}
	r.array(func() {
		var d billing.Deduction
		r.object(func(key string) {
			switch key {
			case "code":
				d.Code = r.str()
			case "name":
				d.Name = r.str()
			case "deductionType":
				d.DeductionType = r.str()
			case "value":
				d.Value = r.money()
			case "unitValue":
				d.UnitValue = r.money()
			case "totalValue":
				d.TotalValue = r.money()
			default:
				r.unknown(key)
			}
		})
		out = append(out, d)
	})
	return out
}

func (r *jsonReader) fees() []billing.Fee {
	if r.null() {
		return nil
	}
	out := []billing.Fee{}
	r.array(func() {
		var f billing.Fee
		r.object(func(key string) {
			switch key {
			case "name":
				f.Name = r.str()
			case "unitValue":
				f.UnitValue = r.money()
			case "totalValue":
				f.TotalValue = r.money()
			case "isTaxable":
				f.IsTaxable = r.boolean()
			default:
				r.unknown(key)
			}
		})
		out = append(out, f)
	})
	return out
}

func (r *jsonReader) taxes() []billing.Tax {
	if r.null() {
		return nil
	}
	out := []billing.Tax{}
	r.array(func() {
		var t billing.Tax
		r.object(func(key string) {
			switch key {
			case "name":
				t.Name = r.str()
			case "appliedRate":
				t.AppliedRate = r.money()
			default:
				r.unknown(key)
			}
		})
		out = append(out, t)
	})
	return out
}

// tags parses a tag list; it is also used alone (parseTags), so it is the
// hot path for readers that only need the tags.
func (r *jsonReader) tags() []billing.Tag {
	if r.null() {
		return nil
	}
	out := make([]billing.Tag, 0, 2)
	r.array(func() {
		var t billing.Tag
		r.object(func(key string) {
			switch key {
			case "name":
				t.Name = r.str()
			case "value":
				t.Value = r.str()
			default:
				r.unknown(key)
			}
		})
		out = append(out, t)
	})
	return out
}

func (r *jsonReader) invoice() *billing.Invoice {
	if r.null() {
		return nil
	}
	inv := &billing.Invoice{}
	r.object(func(key string) {
		switch key {
		case "number":
			inv.Number = r.str()
		case "date":
			inv.Date = billing.Date(r.str())
		case "periodFrom":
			inv.PeriodFrom = billing.Date(r.str())
		case "periodTo":
			inv.PeriodTo = billing.Date(r.str())
		default:
			r.unknown(key)
		}
	})
	return inv
}

// end checks that nothing follows the detail object and returns the first
// parse error, if any.
func (r *jsonReader) end() error {
	if r.err == nil && r.peek() != 0 {
		r.fail("data after the object")
	}
	if r.err != nil {
		return fmt.Errorf("detail: %w", r.err)
	}
	return nil
}
