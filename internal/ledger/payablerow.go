package ledger

import (
	"database/sql/driver"
	"fmt"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// A payable line is stored as the columns it is ordered by (customer_key,
// sku, charge_type, period_from, period_to, currency, charge_id, sub_total,
// quantity) and the detail column holding every other field. Since migration
// 0008 the column is a positional JSON array (detailarray.go); rows written
// before hold one JSON object, read forever, and still the form Digest hashes:
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
// The object is written by hand in that key order (no reflection,
// appendPayableObject) and read back by a small parser (payableDetail, on the
// shared jsonscan scanner) that accepts any key order and whitespace. Decimals are JSON strings in billing.Text form, so they are as
// exact as the columns; null is an absent value or a null list, [] an empty
// list.

// payableCols is the number of values of insert_payable.
const payableCols = 14

// rowCodec turns a payable charge into the values of insert_payable. It
// reuses its buffers, so one codec serves one goroutine, and the string
// values it returns are only valid until its next call (they are bound, and
// so copied by SQLite, before that).
type rowCodec struct {
	buf  []byte // money texts and the detail object
	hbuf []byte // canonical encoding for the content hash
	enc  canon
	args [payableCols]rowVal
	nv   []driver.NamedValue // args boxed for the driver (payableNamed)
}

// view is a string sharing b's bytes: valid while b is not written again.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// payableArgs returns the insert_payable values of c, the lineNo-th line of
// run runID, whose customer_key (customerKey of its tags) is key, numbered
// ord in the run (payable_customers).
func (r *rowCodec) payableArgs(runID, lineNo int64, key string, ord int64, c *billing.PayableCharge) []rowVal {
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
	sub := nullTextVal(view(b[subStart:qtyStart]), c.SubTotal.Valid)
	qty := nullTextVal(view(b[qtyStart:detStart]), c.Quantity.Valid)
	detail := view(b[detStart:])

	e := &r.enc
	e.reset()
	e.payableHashed(c, &r.hbuf)
	r.hbuf = appendContentHash(r.hbuf[:0], e.buf)

	r.args = [payableCols]rowVal{intVal(runID), intVal(lineNo), textVal(key), textVal(c.SKU), textVal(c.ChargeType),
		textVal(string(c.PeriodFrom)), textVal(string(c.PeriodTo)), textVal(c.Currency), textVal(c.ChargeID), sub, qty,
		textVal(detail), textVal(view(r.hbuf)), intVal(ord)}
	return r.args[:]
}

// payableNamed is payableArgs boxed for the driver (valid until the codec's
// next call).
func (r *rowCodec) payableNamed(runID, lineNo int64, key string, ord int64, c *billing.PayableCharge) []driver.NamedValue {
	r.nv = namedValues(r.nv, r.payableArgs(runID, lineNo, key, ord, c))
	return r.nv
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

// appendPayableObject appends the detail object of c: the detail column of
// the rows written before migration 0008, and what Digest hashes for the
// detail of every line (whichever form it is stored in).
func appendPayableObject(b []byte, c *billing.PayableCharge) []byte {
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

// readMoney reads a decimal stored as a JSON string in billing.Text form, or
// null (lineCache.money without a cache).
func readMoney(r *jsonscan.Scanner) decimal.NullDecimal { return (*lineCache)(nil).money(r) }

func unknownKey(r *jsonscan.Scanner, key string) { r.Fail("unknown key %q", key) }

// detailEnd checks that nothing follows the detail object and returns the first
// parse error, if any.
func detailEnd(r *jsonscan.Scanner) error {
	if err := r.End(); err != nil {
		return fmt.Errorf("detail: %w", err)
	}
	return nil
}

// payableDetail fills c's fields from a detail column: the positional array
// (detailarray.go) or the object of the rows written before 0008.
func payableDetail(s string, c *billing.PayableCharge) error {
	return readPayableDetail(s, c, false, nil)
}

// readPayableDetail is payableDetail; lean reads only the fields the engine
// needs (productName, netPriceProrated, tags, invoice) and checks the others
// as JSON without decoding them (PayableRow.DecodeForReconcile). lc, when not
// nil, is the read's cache (linecache.go; the positional form uses it).
func readPayableDetail(s string, c *billing.PayableCharge, lean bool, lc *lineCache) error {
	if isDetailArray(s) {
		return payableDetailArray(s, c, lean, lc)
	}
	r := jsonscan.New(s)
	r.Object(func(key string) {
		if lean && leanSkips(key) {
			r.Raw()
			return
		}
		switch key {
		case "productId":
			c.ProductID = r.Str()
		case "productName":
			c.ProductName = r.Str()
		case "chargeName":
			c.ChargeName = r.Str()
		case "billingCycleType":
			c.BillingCycleType = r.Str()
		case "listPrice":
			c.ListPrice = readMoney(r)
		case "netPrice":
			c.NetPrice = readMoney(r)
		case "netPriceProrated":
			c.NetPriceProrated = readMoney(r)
		case "isBilled":
			c.IsBilled = r.Bool()
		case "isProratable":
			c.IsProratable = r.Bool()
		case "deductions":
			c.Deductions = readDeductions(r)
		case "fees":
			c.Fees = readFees(r)
		case "taxes":
			c.Taxes = readTaxes(r)
		case "tags":
			c.Tags = readTags(r)
		case "invoice":
			c.Invoice = readInvoice(r)
		default:
			unknownKey(r, key)
		}
	})
	return detailEnd(r)
}

// leanSkips reports whether a lean read skips this detail key: a known key
// the engine does not read.
func leanSkips(key string) bool {
	switch key {
	case "productId", "chargeName", "billingCycleType", "listPrice", "netPrice",
		"isBilled", "isProratable", "deductions", "fees", "taxes":
		return true
	}
	return false
}

func readDeductions(r *jsonscan.Scanner) []billing.Deduction {
	if r.Null() {
		return nil
	}
	out := []billing.Deduction{}
	r.Array(func() {
		var d billing.Deduction
		r.Object(func(key string) {
			switch key {
			case "code":
				d.Code = r.Str()
			case "name":
				d.Name = r.Str()
			case "deductionType":
				d.DeductionType = r.Str()
			case "value":
				d.Value = readMoney(r)
			case "unitValue":
				d.UnitValue = readMoney(r)
			case "totalValue":
				d.TotalValue = readMoney(r)
			default:
				unknownKey(r, key)
			}
		})
		out = append(out, d)
	})
	return out
}

func readFees(r *jsonscan.Scanner) []billing.Fee {
	if r.Null() {
		return nil
	}
	out := []billing.Fee{}
	r.Array(func() {
		var f billing.Fee
		r.Object(func(key string) {
			switch key {
			case "name":
				f.Name = r.Str()
			case "unitValue":
				f.UnitValue = readMoney(r)
			case "totalValue":
				f.TotalValue = readMoney(r)
			case "isTaxable":
				f.IsTaxable = r.Bool()
			default:
				unknownKey(r, key)
			}
		})
		out = append(out, f)
	})
	return out
}

func readTaxes(r *jsonscan.Scanner) []billing.Tax {
	if r.Null() {
		return nil
	}
	out := []billing.Tax{}
	r.Array(func() {
		var t billing.Tax
		r.Object(func(key string) {
			switch key {
			case "name":
				t.Name = r.Str()
			case "appliedRate":
				t.AppliedRate = readMoney(r)
			default:
				unknownKey(r, key)
			}
		})
		out = append(out, t)
	})
	return out
}

// readTags parses a tag list.
func readTags(r *jsonscan.Scanner) []billing.Tag {
	if r.Null() {
		return nil
	}
	out := make([]billing.Tag, 0, 2)
	r.Array(func() {
		var t billing.Tag
		r.Object(func(key string) {
			switch key {
			case "name":
				t.Name = r.Str()
			case "value":
				t.Value = r.Str()
			default:
				unknownKey(r, key)
			}
		})
		out = append(out, t)
	})
	return out
}

func readInvoice(r *jsonscan.Scanner) *billing.Invoice {
	if r.Null() {
		return nil
	}
	inv := &billing.Invoice{}
	r.Object(func(key string) {
		switch key {
		case "number":
			inv.Number = r.Str()
		case "date":
			inv.Date = billing.Date(r.Str())
		case "periodFrom":
			inv.PeriodFrom = billing.Date(r.Str())
		case "periodTo":
			inv.PeriodTo = billing.Date(r.Str())
		default:
			unknownKey(r, key)
		}
	})
	return inv
}
