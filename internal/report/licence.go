package report

import (
	"sort"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// LicenceCustomer is one available customer's input to the licence check:
// its subscriptions and its receivable lines of the run.
type LicenceCustomer struct {
	ID          string
	Subs        []billing.Subscription
	Receivables []billing.ReceivableCharge
}

// LicenceFinding is one licence_mismatch: a customer and SKU whose
// subscribed quantity S differs from the billed quantity B (Recurring
// receivable lines in force at the period end). Excess = S − B: positive
// means seats paid for that are not billed.
type LicenceFinding struct {
	CustomerID string
	SKU        string
	Product    string
	Subscribed decimal.Decimal
	Billed     decimal.Decimal
	Excess     decimal.Decimal
}

// SeatCount is S and B of one customer and SKU.
type SeatCount struct {
	Subscribed, Billed decimal.Decimal
	Product            string
}

// Seats counts, per customer and SKU with subscriptions, the subscribed
// quantity S (Σ quantity of the subscriptions) and the billed quantity B
// (Σ quantity of the Recurring receivable lines whose periodTo is periodEnd).
// A customer without subscriptions data takes no part (pass only customers
// whose subscriptions call succeeded).
func Seats(periodEnd billing.Date, customers []LicenceCustomer) map[[2]string]*SeatCount {
	out := map[[2]string]*SeatCount{}
	for _, c := range customers {
		for _, s := range c.Subs {
			k := [2]string{c.ID, s.SKU}
			sc := out[k]
			if sc == nil {
				sc = &SeatCount{Product: s.ProductName}
				out[k] = sc
			}
			sc.Subscribed = sc.Subscribed.Add(s.Quantity.Decimal)
		}
		for i := range c.Receivables {
			r := &c.Receivables[i]
			if r.ChargeType != "Recurring" || r.PeriodTo != periodEnd || !r.Quantity.Valid {
				continue
			}
			if sc := out[[2]string{c.ID, r.SKU}]; sc != nil {
				sc.Billed = sc.Billed.Add(r.Quantity.Decimal)
			}
		}
	}
	return out
}

// LicenceCheck returns the licence_mismatch findings (S ≠ B), sorted by
// customer and SKU. It is a data-quality check: it changes no amount, no
// total and none of the six reconciliation kinds.
func LicenceCheck(periodEnd billing.Date, customers []LicenceCustomer) []LicenceFinding {
	var out []LicenceFinding
	for k, sc := range Seats(periodEnd, customers) {
		if sc.Subscribed.Equal(sc.Billed) {
			continue
		}
		out = append(out, LicenceFinding{CustomerID: k[0], SKU: k[1], Product: sc.Product,
			Subscribed: sc.Subscribed, Billed: sc.Billed, Excess: sc.Subscribed.Sub(sc.Billed)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CustomerID != out[j].CustomerID {
			return out[i].CustomerID < out[j].CustomerID
		}
		return out[i].SKU < out[j].SKU
	})
	return out
}
