package ledger

import (
	"database/sql/driver"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/jsonscan"
)

// A receivable line is stored, like a payable line (payablerow.go), as the
// columns it is ordered or filtered by (customer_id, sku, charge_type,
// period_from, period_to, currency, charge_id, cost_price_prorated, quantity),
// its money (quantity, cost_price, cost_price_prorated: exact billing.Text,
// NULL when absent) and the detail column holding the other fields: since
// migration 0008 the positional array [1,productName,chargeName,
// billingCycleType,isProratable] (detailarray.go); rows written before hold
// the object
//
//	{"productName":"..","chargeName":"..","billingCycleType":"..","isProratable":true|false|null}
//
// written by hand in that key order and read back by a parser that accepts
// any key order and whitespace.

// receivableCols is the number of values of insert_receivable.
const receivableCols = 14

// receivableArgs returns the insert_receivable values of c, the lineNo-th
// receivable line of customerID in run runID (run and customer are boxed once
// by the caller, for all the customer's lines). The money texts, the detail
// object and the content hash are written to st.buf; the values are valid
// until the next call (the driver copies bound text).
func (st *customerStmts) receivableArgs(runID, customerID any, lineNo int64, c *billing.ReceivableCharge) []driver.NamedValue {
	b := st.buf[:0]
	qtyStart := len(b)
	if c.Quantity.Valid {
		b = appendDecimal(b, c.Quantity.Decimal)
	}
	costStart := len(b)
	if c.CostPrice.Valid {
		b = appendDecimal(b, c.CostPrice.Decimal)
	}
	proStart := len(b)
	if c.CostPriceProrated.Valid {
		b = appendDecimal(b, c.CostPriceProrated.Decimal)
	}
	detStart := len(b)
	b = appendReceivableDetail(b, c)
	hashStart := len(b)
	enc := &st.enc
	enc.reset()
	enc.receivable(customerID.(string), c)
	b = appendContentHash(b, enc.buf)
	st.buf = b
	// The views are taken after the last append: b is not reallocated any more.
	var qty, cost, pro any
	if c.Quantity.Valid {
		qty = view(b[qtyStart:costStart])
	}
	if c.CostPrice.Valid {
		cost = view(b[costStart:proStart])
	}
	if c.CostPriceProrated.Valid {
		pro = view(b[proStart:detStart])
	}
	vals := [receivableCols]any{runID, customerID, lineNo, c.SKU, c.ChargeID, c.ChargeType,
		string(c.PeriodFrom), string(c.PeriodTo), qty, cost, pro, c.Currency,
		view(b[detStart:hashStart]), view(b[hashStart:])}
	for i, v := range vals {
		st.rargs[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return st.rargs[:]
}

// appendReceivableObject appends the detail object of c, the detail column of
// the rows written before migration 0008 (tests write such rows with it).
func appendReceivableObject(b []byte, c *billing.ReceivableCharge) []byte {
	b = append(b, `{"productName":`...)
	b = billing.AppendJSONString(b, c.ProductName)
	b = append(b, `,"chargeName":`...)
	b = billing.AppendJSONString(b, c.ChargeName)
	b = append(b, `,"billingCycleType":`...)
	b = billing.AppendJSONString(b, c.BillingCycleType)
	b = append(b, `,"isProratable":`...)
	b = appendJSONBool(b, c.IsProratable)
	return append(b, '}')
}

// receivableDetail fills c's fields from a detail column: the positional
// array (detailarray.go) or the object of the rows written before 0008.
func receivableDetail(s string, c *billing.ReceivableCharge) error {
	if isDetailArray(s) {
		return receivableDetailArray(s, c)
	}
	r := jsonscan.New(s)
	r.Object(func(key string) {
		switch key {
		case "productName":
			c.ProductName = r.Str()
		case "chargeName":
			c.ChargeName = r.Str()
		case "billingCycleType":
			c.BillingCycleType = r.Str()
		case "isProratable":
			c.IsProratable = r.Bool()
		default:
			unknownKey(r, key)
		}
	})
	return detailEnd(r)
}
