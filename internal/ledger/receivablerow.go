package ledger

import (
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
	return readReceivableDetail(s, c, nil)
}

// readReceivableDetail is receivableDetail; lc, when not nil, is the read's
// cache (linecache.go; the positional form uses it).
func readReceivableDetail(s string, c *billing.ReceivableCharge, lc *lineCache) error {
	if isDetailArray(s) {
		return receivableDetailArray(s, c, lc)
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
