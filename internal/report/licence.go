package report

import (
	"sort"
	"strings"

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

// Seats counts, per customer and SKU taking part in the licence check, the
// subscribed quantity S (Σ quantity of the customer's seat subscriptions of
// the SKU) and the billed quantity B (Σ quantity of its Recurring receivable
// lines of the SKU in force at the period end).
//
// Readings of the contract (docs/subscriptions-and-amendments.md):
//   - A seat subscription has fees or a commitmentTerm; one with neither
//     (an Azure plan, pay as you go) has no seats and takes no part.
//   - A line is in force at the period end when periodFrom ≤ end ≤
//     periodTo: for a monthly line that is "periodTo equals the end"; an
//     annual line billed this month counts too.
//   - A customer and SKU take part when one of its seat subscriptions is
//     billed monthly, or a Recurring line of it is in force at the period
//     end. A yearly subscription billed in another month has no line in
//     this run: its billed seats are unknown here, so it is not checked.
//
// A customer without subscriptions data takes no part (pass only customers
// whose subscriptions call succeeded).
func Seats(periodEnd billing.Date, customers []LicenceCustomer) map[[2]string]*SeatCount {
	out := map[[2]string]*SeatCount{}
	for _, c := range customers {
		part := map[string]bool{}
		mine := map[[2]string]*SeatCount{}
		for _, s := range c.Subs {
			if s.Fees == nil && len(s.CommitmentTerm) == 0 {
				continue
			}
			k := [2]string{c.ID, s.SKU}
			sc := mine[k]
			if sc == nil {
				sc = &SeatCount{Product: s.ProductName}
				mine[k] = sc
			}
			sc.Subscribed = sc.Subscribed.Add(s.Quantity.Decimal)
			if strings.EqualFold(s.BillingCycle, "monthly") {
				part[s.SKU] = true
			}
		}
		for i := range c.Receivables {
			r := &c.Receivables[i]
			if r.ChargeType != "Recurring" || r.PeriodFrom > periodEnd || r.PeriodTo < periodEnd || !r.Quantity.Valid {
				continue
			}
			if sc := mine[[2]string{c.ID, r.SKU}]; sc != nil {
				sc.Billed = sc.Billed.Add(r.Quantity.Decimal)
				part[r.SKU] = true
			}
		}
		for k, sc := range mine {
			if part[k[1]] {
				out[k] = sc
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
