package ledger

import (
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// The detail column of the charge tables is written, since migration 0008
// (queries/migrations/0008_detail_positional.sql), as a JSON array whose
// first element is the format number 1 and whose other elements are the
// fields in a fixed order, instead of a JSON object with the field names
// repeated on every line (about 270 of the ≈ 520 bytes of a payable line, 60
// of a receivable line). Everything else is as in the object: strings are
// JSON strings (billing.AppendJSONString), decimals are JSON strings in
// billing.Text form (exact; json_extract returns them as text), booleans
// are true/false/null, a list is null (the API sent null) or an array ([]
// for an empty list). Every position is always present.
//
// Payable line (15 elements; $[n] is the json_extract path):
//
//	$[0] 1 (format)       $[5] listPrice         $[10] deductions: [[code,name,deductionType,value,unitValue,totalValue],…]
//	$[1] productId        $[6] netPrice          $[11] fees:       [[name,unitValue,totalValue,isTaxable],…]
//	$[2] productName      $[7] netPriceProrated  $[12] taxes:      [[name,appliedRate],…]
//	$[3] chargeName       $[8] isBilled          $[13] tags:       [[name,value],…]
//	$[4] billingCycleType $[9] isProratable      $[14] invoice:    [number,date,periodFrom,periodTo]
//
// Receivable line (5 elements): [1, productName, chargeName, billingCycleType, isProratable].
//
// Rows written before 0008 hold the object (payablerow.go, receivablerow.go)
// and are never rewritten: the readers tell the two apart by the first byte
// ('[' or '{'). The content_hash and Digest do not depend on the stored
// form: both are computed from the decoded fields (Digest re-encodes the
// payable detail as the object, appendPayableObject), so a run has the same
// digest whichever form its rows are stored in.

// detailFormat is the format number leading a positional detail array.
const detailFormat = "1"

// appendPayableDetail appends the stored detail column of c: the positional
// array (format 1).
func appendPayableDetail(b []byte, c *billing.PayableCharge) []byte {
	b = append(b, '[', '1', ',')
	b = billing.AppendJSONString(b, c.ProductID)
	b = append(b, ',')
	b = billing.AppendJSONString(b, c.ProductName)
	b = append(b, ',')
	b = billing.AppendJSONString(b, c.ChargeName)
	b = append(b, ',')
	b = billing.AppendJSONString(b, c.BillingCycleType)
	b = append(b, ',')
	b = appendJSONDecimal(b, c.ListPrice)
	b = append(b, ',')
	b = appendJSONDecimal(b, c.NetPrice)
	b = append(b, ',')
	b = appendJSONDecimal(b, c.NetPriceProrated)
	b = append(b, ',')
	b = appendJSONBool(b, c.IsBilled)
	b = append(b, ',')
	b = appendJSONBool(b, c.IsProratable)
	b = append(b, ',')
	if c.Deductions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, d := range c.Deductions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = billing.AppendJSONString(b, d.Code)
			b = append(b, ',')
			b = billing.AppendJSONString(b, d.Name)
			b = append(b, ',')
			b = billing.AppendJSONString(b, d.DeductionType)
			b = append(b, ',')
			b = appendJSONDecimal(b, d.Value)
			b = append(b, ',')
			b = appendJSONDecimal(b, d.UnitValue)
			b = append(b, ',')
			b = appendJSONDecimal(b, d.TotalValue)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	if c.Fees == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, f := range c.Fees {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = billing.AppendJSONString(b, f.Name)
			b = append(b, ',')
			b = appendJSONDecimal(b, f.UnitValue)
			b = append(b, ',')
			b = appendJSONDecimal(b, f.TotalValue)
			b = append(b, ',')
			b = appendJSONBool(b, f.IsTaxable)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	if c.Taxes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range c.Taxes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = billing.AppendJSONString(b, t.Name)
			b = append(b, ',')
			b = appendJSONDecimal(b, t.AppliedRate)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	if c.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range c.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = billing.AppendJSONString(b, t.Name)
			b = append(b, ',')
			b = billing.AppendJSONString(b, t.Value)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	if inv := c.Invoice; inv == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		b = billing.AppendJSONString(b, inv.Number)
		b = append(b, ',')
		b = billing.AppendJSONString(b, string(inv.Date))
		b = append(b, ',')
		b = billing.AppendJSONString(b, string(inv.PeriodFrom))
		b = append(b, ',')
		b = billing.AppendJSONString(b, string(inv.PeriodTo))
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendReceivableDetail appends the stored detail column of c: the
// positional array (format 1).
func appendReceivableDetail(b []byte, c *billing.ReceivableCharge) []byte {
	b = append(b, '[', '1', ',')
	b = billing.AppendJSONString(b, c.ProductName)
	b = append(b, ',')
	b = billing.AppendJSONString(b, c.ChargeName)
	b = append(b, ',')
	b = billing.AppendJSONString(b, c.BillingCycleType)
	b = append(b, ',')
	b = appendJSONBool(b, c.IsProratable)
	return append(b, ']')
}

// tuple reads a fixed-length array: open, the elements (read by fields,
// which calls next between them), close.
type tuple struct{ r *jsonscan.Scanner }

func (t tuple) open()  { t.r.Expect('[') }
func (t tuple) next()  { t.r.Expect(',') }
func (t tuple) close() { t.r.Expect(']') }

// openDetail reads the '[' and the format number of a positional detail.
func openDetail(r *jsonscan.Scanner) tuple {
	t := tuple{r}
	t.open()
	if r.Err() != nil {
		return t
	}
	if f := r.Raw(); r.Err() == nil && f != detailFormat {
		r.Fail("detail format %s is unknown to this version of reconcile", f)
	}
	return t
}

// list reads null (nil, false) or an array of tuples, calling elem for each.
func list(r *jsonscan.Scanner, elem func(t tuple)) bool {
	if r.Null() {
		return false
	}
	t := tuple{r}
	r.Array(func() {
		t.open()
		elem(t)
		t.close()
	})
	return true
}

// payableDetailArray fills c's fields from a positional detail.
func payableDetailArray(s string, c *billing.PayableCharge) error {
	r := jsonscan.New(s)
	t := openDetail(r)
	t.next()
	c.ProductID = r.Str()
	t.next()
	c.ProductName = r.Str()
	t.next()
	c.ChargeName = r.Str()
	t.next()
	c.BillingCycleType = r.Str()
	t.next()
	c.ListPrice = readMoney(r)
	t.next()
	c.NetPrice = readMoney(r)
	t.next()
	c.NetPriceProrated = readMoney(r)
	t.next()
	c.IsBilled = r.Bool()
	t.next()
	c.IsProratable = r.Bool()
	t.next()
	var ds []billing.Deduction
	if list(r, func(t tuple) {
		var d billing.Deduction
		d.Code = r.Str()
		t.next()
		d.Name = r.Str()
		t.next()
		d.DeductionType = r.Str()
		t.next()
		d.Value = readMoney(r)
		t.next()
		d.UnitValue = readMoney(r)
		t.next()
		d.TotalValue = readMoney(r)
		ds = append(ds, d)
	}) && ds == nil {
		ds = []billing.Deduction{}
	}
	c.Deductions = ds
	t.next()
	var fs []billing.Fee
	if list(r, func(t tuple) {
		var f billing.Fee
		f.Name = r.Str()
		t.next()
		f.UnitValue = readMoney(r)
		t.next()
		f.TotalValue = readMoney(r)
		t.next()
		f.IsTaxable = r.Bool()
		fs = append(fs, f)
	}) && fs == nil {
		fs = []billing.Fee{}
	}
	c.Fees = fs
	t.next()
	var ts []billing.Tax
	if list(r, func(t tuple) {
		var x billing.Tax
		x.Name = r.Str()
		t.next()
		x.AppliedRate = readMoney(r)
		ts = append(ts, x)
	}) && ts == nil {
		ts = []billing.Tax{}
	}
	c.Taxes = ts
	t.next()
	var tags []billing.Tag
	if list(r, func(t tuple) {
		var x billing.Tag
		x.Name = r.Str()
		t.next()
		x.Value = r.Str()
		tags = append(tags, x)
	}) && tags == nil {
		tags = []billing.Tag{}
	}
	c.Tags = tags
	t.next()
	if r.Null() {
		c.Invoice = nil
	} else {
		inv := &billing.Invoice{}
		t.open()
		inv.Number = r.Str()
		t.next()
		inv.Date = billing.Date(r.Str())
		t.next()
		inv.PeriodFrom = billing.Date(r.Str())
		t.next()
		inv.PeriodTo = billing.Date(r.Str())
		t.close()
		c.Invoice = inv
	}
	t.close()
	return detailEnd(r)
}

// receivableDetailArray fills c's fields from a positional detail.
func receivableDetailArray(s string, c *billing.ReceivableCharge) error {
	r := jsonscan.New(s)
	t := openDetail(r)
	t.next()
	c.ProductName = r.Str()
	t.next()
	c.ChargeName = r.Str()
	t.next()
	c.BillingCycleType = r.Str()
	t.next()
	c.IsProratable = r.Bool()
	t.close()
	return detailEnd(r)
}

// isDetailArray reports whether a detail column holds the positional array
// (format 1 or later) rather than the object of the rows written before 0008.
func isDetailArray(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '[':
			return true
		default:
			return false
		}
	}
	return false
}
