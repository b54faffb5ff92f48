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
	b = appendTuples(b, c.Deductions, func(b []byte, d billing.Deduction) []byte {
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
		return appendJSONDecimal(b, d.TotalValue)
	})
	b = append(b, ',')
	b = appendTuples(b, c.Fees, func(b []byte, f billing.Fee) []byte {
		b = billing.AppendJSONString(b, f.Name)
		b = append(b, ',')
		b = appendJSONDecimal(b, f.UnitValue)
		b = append(b, ',')
		b = appendJSONDecimal(b, f.TotalValue)
		b = append(b, ',')
		return appendJSONBool(b, f.IsTaxable)
	})
	b = append(b, ',')
	b = appendTuples(b, c.Taxes, func(b []byte, t billing.Tax) []byte {
		b = billing.AppendJSONString(b, t.Name)
		b = append(b, ',')
		return appendJSONDecimal(b, t.AppliedRate)
	})
	b = append(b, ',')
	b = appendTuples(b, c.Tags, func(b []byte, t billing.Tag) []byte {
		b = billing.AppendJSONString(b, t.Name)
		b = append(b, ',')
		return billing.AppendJSONString(b, t.Value)
	})
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

// appendTuples appends a list element of a positional detail: null for a
// nil list (the API's null), else an array of one tuple (an array written by
// item) per element, [] for an empty list.
func appendTuples[T any](b []byte, xs []T, item func([]byte, T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = item(b, x)
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

// openDetail reads the '[' and the format number of a positional detail.
func openDetail(r *jsonscan.Scanner) { openArray(r, "detail") }

// openArray reads the '[' and the format number of a positional column
// (what names it in the error of an unknown format).
func openArray(r *jsonscan.Scanner, what string) {
	r.Expect('[')
	if r.Err() != nil {
		return
	}
	if f := r.Raw(); r.Err() == nil && f != detailFormat {
		r.Fail("%s format %s is unknown to this version of reconcile", what, f)
	}
}

// next reads the ',' before the next element of a fixed-length array.
func next(r *jsonscan.Scanner) { r.Expect(',') }

// openList reads null (false) or the '[' of a list (true).
func openList(r *jsonscan.Scanner) bool {
	if r.Null() {
		return false
	}
	r.Expect('[')
	return true
}

// item moves to element i of a list opened by openList and reports whether
// there is one; at the end it consumes the ']'.
func item(r *jsonscan.Scanner, i int) bool {
	if r.Peek() == ']' {
		r.Expect(']')
		return false
	}
	if i > 0 {
		next(r)
	}
	return r.Err() == nil
}

// payableDetailArray fills c's fields from a positional detail. lean reads
// only what the engine needs (see PayableRow.DecodeForReconcile): productName,
// netPriceProrated, tags and invoice; the other elements are checked as JSON
// and skipped. lc, when not nil, is the read's cache (linecache.go).
func payableDetailArray(s string, c *billing.PayableCharge, lean bool, lc *lineCache) error {
	r := lc.scanner(s)
	var none payableSpare
	sp := lc.spares(&none)
	openDetail(r)
	next(r)
	if !skipped(r, lean) {
		c.ProductID = r.Str()
	}
	next(r)
	c.ProductName = r.Str()
	next(r)
	if !skipped(r, lean) {
		c.ChargeName = r.Str()
	}
	next(r)
	if !skipped(r, lean) {
		c.BillingCycleType = r.Str()
	}
	next(r)
	if !skipped(r, lean) {
		c.ListPrice = lc.money(r)
	}
	next(r)
	if !skipped(r, lean) {
		c.NetPrice = lc.money(r)
	}
	next(r)
	c.NetPriceProrated = lc.money(r)
	next(r)
	if !skipped(r, lean) {
		c.IsBilled = lc.bool(r)
	}
	next(r)
	if !skipped(r, lean) {
		c.IsProratable = lc.bool(r)
	}
	next(r)
	if !skipped(r, lean) {
		c.Deductions = readTuples(r, &sp.deductions, lc, readDeduction)
	}
	next(r)
	if !skipped(r, lean) {
		c.Fees = readTuples(r, &sp.fees, lc, readFee)
	}
	next(r)
	if !skipped(r, lean) {
		c.Taxes = readTuples(r, &sp.taxes, lc, readTax)
	}
	next(r)
	c.Tags = readTuples(r, &sp.tags, lc, readTag)
	next(r)
	c.Invoice = readInvoiceArray(r, &sp.invoice)
	r.Expect(']')
	return detailEnd(r)
}

// skipped skips the next value (checked as JSON) when lean, and says so.
func skipped(r *jsonscan.Scanner, lean bool) bool {
	if lean {
		r.Raw()
	}
	return lean
}

// readTuples reads a list element of a positional detail (appendTuples):
// nil for null, else one item per tuple, an empty list for []. The items
// go into the array of *spare when it has one (a lending read's), which is
// then taken (*spare is left nil).
func readTuples[T any](r *jsonscan.Scanner, spare *[]T, lc *lineCache, read func(*jsonscan.Scanner, *lineCache) T) []T {
	if !openList(r) {
		return nil
	}
	xs := (*spare)[:0]
	*spare = nil
	if xs == nil {
		xs = make([]T, 0, 2)
	}
	for i := 0; item(r, i); i++ {
		r.Expect('[')
		xs = append(xs, read(r, lc))
		r.Expect(']')
	}
	return xs
}

func readDeduction(r *jsonscan.Scanner, lc *lineCache) (d billing.Deduction) {
	d.Code = r.Str()
	next(r)
	d.Name = r.Str()
	next(r)
	d.DeductionType = r.Str()
	next(r)
	d.Value = lc.money(r)
	next(r)
	d.UnitValue = lc.money(r)
	next(r)
	d.TotalValue = lc.money(r)
	return d
}

func readFee(r *jsonscan.Scanner, lc *lineCache) (f billing.Fee) {
	f.Name = r.Str()
	next(r)
	f.UnitValue = lc.money(r)
	next(r)
	f.TotalValue = lc.money(r)
	next(r)
	f.IsTaxable = lc.bool(r)
	return f
}

func readTax(r *jsonscan.Scanner, lc *lineCache) (x billing.Tax) {
	x.Name = r.Str()
	next(r)
	x.AppliedRate = lc.money(r)
	return x
}

func readTag(r *jsonscan.Scanner, _ *lineCache) (x billing.Tag) {
	x.Name = r.Str()
	next(r)
	x.Value = r.Str()
	return x
}

// readInvoiceArray reads the invoice element of a positional payable
// detail, into *spare when it is not nil (a lending read's), which is then
// taken.
func readInvoiceArray(r *jsonscan.Scanner, spare **billing.Invoice) *billing.Invoice {
	if r.Null() {
		return nil
	}
	inv := *spare
	*spare = nil
	if inv == nil {
		inv = &billing.Invoice{}
	}
	r.Expect('[')
	inv.Number = r.Str()
	next(r)
	inv.Date = billing.Date(r.Str())
	next(r)
	inv.PeriodFrom = billing.Date(r.Str())
	next(r)
	inv.PeriodTo = billing.Date(r.Str())
	r.Expect(']')
	return inv
}

// receivableDetailArray fills c's fields from a positional detail.
func receivableDetailArray(s string, c *billing.ReceivableCharge, lc *lineCache) error {
	r := lc.scanner(s)
	openDetail(r)
	next(r)
	c.ProductName = r.Str()
	next(r)
	c.ChargeName = r.Str()
	next(r)
	c.BillingCycleType = r.Str()
	next(r)
	c.IsProratable = lc.bool(r)
	r.Expect(']')
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
