package xlsx

import (
	"bytes"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// Compact text of a payable line's nested fields, for the Payable sheet:
// items joined by "; ", amounts as exact decimal text (billing.Text), an
// absent amount as "null".
//
//	Invoice     "INV-1001 2026-11-01"
//	Deductions  "PROMO:-1.69; LOYAL:-0.50"   code (or name, or type):totalValue (or value)
//	Fees        "Setup:10.00"                 name:totalValue (or unitValue)
//	Taxes       "GST:5; QST:9.975"            name:appliedRate
//	Tags        "CustomerId=42; Env=prod"     name=value

const itemSep = "; "

// appendDec appends the first valid amount of ds as exact decimal text, or
// "null".
func appendDec(dst []byte, ds ...decimal.NullDecimal) []byte {
	for _, d := range ds {
		if d.Valid {
			return appendText(dst, d.Decimal)
		}
	}
	return append(dst, "null"...)
}

// appendText appends billing.Text(d) without making a string when the
// coefficient fits in an int64 and the exponent is not positive (every
// amount the API sends in practice).
func appendText(dst []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if exp > 0 || exp < -18 || d.NumDigits() > 18 {
		return append(dst, billing.Text(d)...)
	}
	c := d.CoefficientInt64()
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	var digits [20]byte
	ds := strconv.AppendInt(digits[:0], c, 10)
	scale := int(-exp)
	if len(ds) > scale {
		dst = append(dst, ds[:len(ds)-scale]...)
	} else {
		dst = append(dst, '0')
	}
	if scale == 0 {
		return dst
	}
	dst = append(dst, '.')
	for i := len(ds); i < scale; i++ {
		dst = append(dst, '0')
	}
	return append(dst, ds[max(0, len(ds)-scale):]...)
}

func appendInvoice(dst []byte, inv *billing.Invoice) []byte {
	if inv == nil {
		return dst
	}
	start := len(dst)
	dst = append(dst, inv.Number...)
	dst = append(dst, ' ')
	dst = append(dst, inv.Date...)
	trimmed := bytes.TrimSpace(dst[start:])
	n := copy(dst[start:], trimmed)
	return dst[:start+n]
}

func appendDeductions(dst []byte, ds []billing.Deduction) []byte {
	for i := range ds {
		d := &ds[i]
		if i > 0 {
			dst = append(dst, itemSep...)
		}
		dst = append(dst, nonEmpty(d.Code, nonEmpty(d.Name, d.DeductionType))...)
		dst = append(dst, ':')
		dst = appendDec(dst, d.TotalValue, d.Value)
	}
	return dst
}

func appendFees(dst []byte, fs []billing.Fee) []byte {
	for i := range fs {
		f := &fs[i]
		if i > 0 {
			dst = append(dst, itemSep...)
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ':')
		dst = appendDec(dst, f.TotalValue, f.UnitValue)
	}
	return dst
}

func appendTaxes(dst []byte, ts []billing.Tax) []byte {
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			dst = append(dst, itemSep...)
		}
		dst = append(dst, t.Name...)
		dst = append(dst, ':')
		dst = appendDec(dst, t.AppliedRate)
	}
	return dst
}

func appendTags(dst []byte, ts []billing.Tag) []byte {
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			dst = append(dst, itemSep...)
		}
		dst = append(dst, t.Name...)
		dst = append(dst, '=')
		dst = append(dst, t.Value...)
	}
	return dst
}

func invoiceText(inv *billing.Invoice) string { return string(appendInvoice(nil, inv)) }

func deductionsText(ds []billing.Deduction) string { return string(appendDeductions(nil, ds)) }

func feesText(fs []billing.Fee) string { return string(appendFees(nil, fs)) }

func tagsText(ts []billing.Tag) string { return string(appendTags(nil, ts)) }

// compactTexts holds the compact texts of one payable line in one reused
// buffer; the slices are valid until the next set.
type compactTexts struct {
	buf                                    []byte
	invoice, deductions, fees, taxes, tags []byte
}

func (ct *compactTexts) set(c *billing.PayableCharge) {
	// Offsets first: the buffer may move while it grows.
	b := ct.buf[:0]
	var ends [5]int
	b = appendInvoice(b, c.Invoice)
	ends[0] = len(b)
	b = appendDeductions(b, c.Deductions)
	ends[1] = len(b)
	b = appendFees(b, c.Fees)
	ends[2] = len(b)
	b = appendTaxes(b, c.Taxes)
	ends[3] = len(b)
	b = appendTags(b, c.Tags)
	ends[4] = len(b)
	ct.buf = b
	ct.invoice = b[:ends[0]:ends[0]]
	ct.deductions = b[ends[0]:ends[1]:ends[1]]
	ct.fees = b[ends[1]:ends[2]:ends[2]]
	ct.taxes = b[ends[2]:ends[3]:ends[3]]
	ct.tags = b[ends[3]:ends[4]:ends[4]]
}
