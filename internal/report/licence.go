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
	return accumulate(periodEnd, customers).Seats()
}

func accumulate(periodEnd billing.Date, customers []LicenceCustomer) *LicenceAccumulator {
	a := NewLicenceAccumulator(periodEnd)
	for _, c := range customers {
		a.AddSubscriptions(c.ID, c.Subs)
	}
	for _, c := range customers {
		for i := range c.Receivables {
			a.AddReceivable(c.ID, &c.Receivables[i])
		}
	}
	return a
}

// LicenceAccumulator computes the licence check of a run incrementally, so
// that neither the subscriptions nor the receivable lines need to stay in
// memory: AddSubscriptions once per customer (before its receivable lines),
// AddReceivable per line, then Findings and Seats. It keeps one entry per
// customer and SKU, none per subscription (the Commitments rows are computed
// from the subscriptions again when they are read: CommitmentRowOf).
type LicenceAccumulator struct {
	end    billing.Date
	seats  map[[2]string]*seatAcc
	intern map[string]string
}

type seatAcc struct {
	SeatCount
	part bool
}

// NewLicenceAccumulator starts the check of a period ending on periodEnd.
func NewLicenceAccumulator(periodEnd billing.Date) *LicenceAccumulator {
	return &LicenceAccumulator{end: periodEnd, seats: map[[2]string]*seatAcc{}, intern: map[string]string{}}
}

func (a *LicenceAccumulator) str(s string) string {
	if v, ok := a.intern[s]; ok {
		return v
	}
	a.intern[s] = s
	return s
}

// AddSubscriptions adds one customer's subscriptions (they are not kept).
func (a *LicenceAccumulator) AddSubscriptions(customerID string, subs []billing.Subscription) {
	for i := range subs {
		s := &subs[i]
		if s.Fees == nil && len(s.CommitmentTerm) == 0 {
			continue
		}
		k := [2]string{customerID, a.str(s.SKU)}
		sc := a.seats[k]
		if sc == nil {
			sc = &seatAcc{SeatCount: SeatCount{Product: a.str(s.ProductName)}}
			a.seats[k] = sc
		}
		sc.Subscribed = sc.Subscribed.Add(s.Quantity.Decimal)
		if strings.EqualFold(s.BillingCycle, "monthly") {
			sc.part = true
		}
	}
}

// Tracks reports whether the customer and SKU have a seat subscription, the
// only keys the check (and the Commitments rows' unit prices) look at.
func (a *LicenceAccumulator) Tracks(customerID, sku string) bool {
	_, ok := a.seats[[2]string{customerID, sku}]
	return ok
}

// AddReceivable adds one receivable line of a customer.
func (a *LicenceAccumulator) AddReceivable(customerID string, r *billing.ReceivableCharge) {
	if r.ChargeType != "Recurring" || r.PeriodFrom > a.end || r.PeriodTo < a.end || !r.Quantity.Valid {
		return
	}
	if sc := a.seats[[2]string{customerID, r.SKU}]; sc != nil {
		sc.Billed = sc.Billed.Add(r.Quantity.Decimal)
		sc.part = true
	}
}

// Seats returns S and B of the customers and SKUs taking part.
func (a *LicenceAccumulator) Seats() map[[2]string]*SeatCount {
	out := make(map[[2]string]*SeatCount, len(a.seats))
	for k, sc := range a.seats {
		if sc.part {
			out[k] = &sc.SeatCount
		}
	}
	return out
}

// Findings returns the licence_mismatch findings (see LicenceCheck).
func (a *LicenceAccumulator) Findings() []LicenceFinding {
	var out []LicenceFinding
	for k, sc := range a.Seats() {
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

// LicenceCheck returns the licence_mismatch findings (S ≠ B), sorted by
// customer and SKU. It is a data-quality check: it changes no amount, no
// total and none of the six reconciliation kinds.
func LicenceCheck(periodEnd billing.Date, customers []LicenceCustomer) []LicenceFinding {
	return accumulate(periodEnd, customers).Findings()
}
