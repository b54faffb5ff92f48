package report

import (
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// UnitPrices collects, per customer and SKU, the distinct net prices of the
// run's payable Recurring lines: the monthly unit cost of a commitment when
// there is exactly one.
type UnitPrices struct {
	m map[[2]string]map[[2]string]bool // (customer, sku) -> {(netPrice text, currency)}
}

// NewUnitPrices returns an empty index.
func NewUnitPrices() *UnitPrices { return &UnitPrices{m: map[[2]string]map[[2]string]bool{}} }

// Add records one payable line attributed to customerID ("" is ignored).
func (u *UnitPrices) Add(customerID string, c *billing.PayableCharge) {
	if customerID == "" || c.ChargeType != "Recurring" || !c.NetPrice.Valid {
		return
	}
	k := [2]string{customerID, c.SKU}
	if u.m[k] == nil {
		u.m[k] = map[[2]string]bool{}
	}
	u.m[k][[2]string{c.NetPrice.Decimal.String(), c.Currency}] = true
}

// unit returns the one unit price and currency, or ok=false with how many
// distinct prices there are (0 or more than 1).
func (u *UnitPrices) unit(customerID, sku string) (price decimal.Decimal, currency string, n int) {
	set := u.m[[2]string{customerID, sku}]
	for k := range set {
		price, _ = decimal.NewFromString(k[0])
		currency = k[1]
	}
	return price, currency, len(set)
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
	seats := Seats(periodEnd, customers)
	end := periodEnd.Time()
	out := Commitments{Totals: map[string]decimal.Decimal{}}
	for _, c := range customers {
		for _, s := range c.Subs {
			if len(s.CommitmentTerm) == 0 {
				continue
			}
			r := CommitmentRow{CustomerID: c.ID, SubscriptionID: s.ID, SKU: s.SKU, Product: s.ProductName,
				Quantity: s.Quantity.Decimal.IntPart()}
			ct, err := billing.ParseCommitment(s.CommitmentTerm)
			if err != nil {
				r.Unreadable = err.Error()
				out.Rows = append(out.Rows, r)
				continue
			}
			r.TermType, r.TermEnd = ct.Type, ct.TermEndDate
			if ct.Renewal != nil {
				r.RenewalDate, r.ScheduledQuantity = ct.Renewal.Date, ct.Renewal.ScheduledQuantity
				days := int(ct.Renewal.Date.Time().Sub(end).Hours() / 24)
				r.Renews30, r.Renews60, r.Renews90 = days <= 30, days <= 60, days <= 90
			}
			r.MinimumInForce, _ = ct.MinimumOn(periodEnd)
			r.DaysToTermEnd = int(ct.TermEndDate.Time().Sub(end).Hours() / 24)
			r.Months = wholeMonths(end, ct.TermEndDate.Time())
			if sc := seats[[2]string{c.ID, s.SKU}]; sc != nil && sc.Subscribed.GreaterThan(sc.Billed) {
				r.Stranded = true
			}
			switch price, cur, n := prices.unit(c.ID, s.SKU); n {
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
			out.Rows = append(out.Rows, r)
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
