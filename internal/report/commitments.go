package report

import (
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// UnitPrices collects, per customer and SKU, the net price of the run's
// payable Recurring lines: the monthly unit cost of a commitment when there
// is exactly one (one price in one currency).
type UnitPrices struct {
	m map[[2]string]*unitPrice // (customer, sku)
}

type unitPrice struct {
	price    decimal.Decimal
	currency string
	several  bool
}

// NewUnitPrices returns an empty index.
func NewUnitPrices() *UnitPrices { return &UnitPrices{m: map[[2]string]*unitPrice{}} }

// Add records one payable line attributed to customerID ("" is ignored).
func (u *UnitPrices) Add(customerID string, c *billing.PayableCharge) {
	if customerID == "" || c.ChargeType != "Recurring" || !c.NetPrice.Valid {
		return
	}
	k := [2]string{customerID, c.SKU}
	p := u.m[k]
	switch {
	case p == nil:
		u.m[k] = &unitPrice{price: c.NetPrice.Decimal, currency: c.Currency}
	case !p.price.Equal(c.NetPrice.Decimal) || p.currency != c.Currency:
		p.several = true
	}
}

// unit returns the one unit price and its currency, with n = 1; n = 0 when
// there is none, 2 when there are several.
func (u *UnitPrices) unit(customerID, sku string) (price decimal.Decimal, currency string, n int) {
	p := u.m[[2]string{customerID, sku}]
	switch {
	case p == nil:
		return decimal.Decimal{}, "", 0
	case p.several:
		return decimal.Decimal{}, "", 2
	}
	return p.price, p.currency, 1
}

// CommitmentRow is one subscription with a commitmentTerm.
type CommitmentRow struct {
	CustomerID        string
	SubscriptionID    string
	SKU               string
	Product           string
	Quantity          int64
	TermType          string
	TermEnd           billing.Date
	RenewalDate       billing.Date // "" when it does not auto-renew
	ScheduledQuantity *int64
	MinimumInForce    int64 // at the period end (0 when none)
	DaysToTermEnd     int
	Months            int // whole months from the period end to the term end
	// UnitCost is the monthly unit cost (the payable netPrice), and
	// Remaining = Quantity × UnitCost × Months; both invalid when the run
	// has no single price for the customer and SKU (UnitCostNote says why).
	UnitCost     decimal.NullDecimal
	Currency     string
	Remaining    decimal.NullDecimal
	UnitCostNote string
	Renews30     bool
	Renews60     bool
	Renews90     bool
	Stranded     bool // S − B > 0 for the customer and SKU: seats paid, not billed, locked in
	Unreadable   string
}

// Commitments is the Commitments block: the rows (by customer, SKU,
// subscription id) and the remaining commitment per currency.
type Commitments struct {
	Rows   []CommitmentRow
	Totals map[string]decimal.Decimal
}

// ComputeCommitments builds the Commitments block of a run whose period ends
// on periodEnd.
func ComputeCommitments(periodEnd billing.Date, customers []LicenceCustomer, prices *UnitPrices) Commitments {
	return accumulate(periodEnd, customers).Commitments(prices)
}

// commitmentRow is the part of a row known from the subscription alone.
func (a *LicenceAccumulator) commitmentRow(customerID string, s *billing.Subscription) CommitmentRow {
	r := CommitmentRow{CustomerID: customerID, SubscriptionID: s.ID, SKU: a.str(s.SKU), Product: a.str(s.ProductName),
		Quantity: s.Quantity.Decimal.IntPart()}
	ct, err := billing.ParseCommitment(s.CommitmentTerm)
	if err != nil {
		r.Unreadable = err.Error()
		return r
	}
	end := a.end.Time()
	r.TermType, r.TermEnd = a.str(ct.Type), billing.Date(a.str(string(ct.TermEndDate)))
	if ct.Renewal != nil {
		r.RenewalDate, r.ScheduledQuantity = billing.Date(a.str(string(ct.Renewal.Date))), ct.Renewal.ScheduledQuantity
		days := int(ct.Renewal.Date.Time().Sub(end).Hours() / 24)
		r.Renews30, r.Renews60, r.Renews90 = days <= 30, days <= 60, days <= 90
	}
	r.MinimumInForce, _ = ct.MinimumOn(a.end)
	r.DaysToTermEnd = int(ct.TermEndDate.Time().Sub(end).Hours() / 24)
	r.Months = wholeMonths(end, ct.TermEndDate.Time())
	return r
}

// Commitments completes the rows (stranded, unit cost, remaining) with the
// run's payable prices, sorts them and totals them per currency.
func (a *LicenceAccumulator) Commitments(prices *UnitPrices) Commitments {
	seats := a.Seats()
	out := Commitments{Rows: a.rows, Totals: map[string]decimal.Decimal{}}
	for i := range out.Rows {
		r := &out.Rows[i]
		if r.Unreadable != "" {
			continue
		}
		if sc := seats[[2]string{r.CustomerID, r.SKU}]; sc != nil && sc.Subscribed.GreaterThan(sc.Billed) {
			r.Stranded = true
		}
		switch price, cur, n := prices.unit(r.CustomerID, r.SKU); n {
		case 1:
			r.UnitCost = decimal.NullDecimal{Decimal: price, Valid: true}
			r.Currency = cur
			rem := price.Mul(decimal.NewFromInt(r.Quantity)).Mul(decimal.NewFromInt(int64(r.Months)))
			r.Remaining = decimal.NullDecimal{Decimal: rem, Valid: true}
			out.Totals[cur] = out.Totals[cur].Add(rem)
		case 0:
			r.UnitCostNote = "no payable line price for this customer and SKU in the run"
		default:
			r.UnitCostNote = "several payable line prices for this customer and SKU in the run"
		}
	}
	sort.Slice(out.Rows, func(i, j int) bool {
		a, b := out.Rows[i], out.Rows[j]
		if a.CustomerID != b.CustomerID {
			return a.CustomerID < b.CustomerID
		}
		if a.SKU != b.SKU {
			return a.SKU < b.SKU
		}
		return strings.ToLower(a.SubscriptionID) < strings.ToLower(b.SubscriptionID)
	})
	return out
}

// wholeMonths is the number of whole months from a to b (0 when b is not
// after a): a month from the 31st ends on the last day of a shorter month.
func wholeMonths(a, b time.Time) int {
	if !b.After(a) {
		return 0
	}
	m := (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
	lastOfB := b.AddDate(0, 0, 1).Day() == 1
	if b.Day() < a.Day() && !lastOfB {
		m--
	}
	return max(m, 0)
}
