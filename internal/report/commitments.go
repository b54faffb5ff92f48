package report

import (
	"cmp"
	"context"
	"slices"
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
	case c.NetPrice.Decimal.Exponent() < p.price.Exponent():
		// One price written two ways (1.5, 1.50): keep the one with more
		// decimals, so the text kept does not depend on the order of the
		// lines (the close adds them as the API sends them, a report in the
		// ledger's order).
		p.price = c.NetPrice.Decimal
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

// Commitments is the Commitments block's summary: the counts, the remaining
// commitment per currency and the stranded rows (the ones to act on). Every
// row is on the Commitments sheet, streamed from Rows at workbook time, so a
// run's memory does not grow with its number of subscriptions.
type Commitments struct {
	Subscriptions int // subscriptions with a commitmentTerm
	Renews30      int
	Renews60      int
	Renews90      int
	NoUnitCost    int
	Totals        map[string]decimal.Decimal
	Stranded      []CommitmentRow // in the report order
	// Rows streams every row in the report order (by customer, SKU,
	// subscription id); nil when there are none.
	Rows CommitmentRows
}

// CommitmentRows streams the rows of a Commitments block, in the report
// order. The job implements it from the ledger (re-reading the run's
// subscriptions); CommitmentSlice from memory.
type CommitmentRows interface {
	EachCommitment(ctx context.Context, fn func(*CommitmentRow) error) error
}

// CommitmentSlice is CommitmentRows from memory, already in the report order.
type CommitmentSlice []CommitmentRow

// EachCommitment implements CommitmentRows.
func (s CommitmentSlice) EachCommitment(ctx context.Context, fn func(*CommitmentRow) error) error {
	for i := range s {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(&s[i]); err != nil {
			return err
		}
	}
	return nil
}

// NewCommitments returns an empty summary whose rows come from rows.
func NewCommitments(rows CommitmentRows) Commitments {
	return Commitments{Totals: map[string]decimal.Decimal{}, Rows: rows}
}

// Add counts one row into the summary (rows in the report order).
func (c *Commitments) Add(r *CommitmentRow) {
	c.Subscriptions++
	c.Renews30 += b2i(r.Renews30)
	c.Renews60 += b2i(r.Renews60)
	c.Renews90 += b2i(r.Renews90)
	c.NoUnitCost += b2i(!r.UnitCost.Valid)
	if r.Remaining.Valid {
		if c.Totals == nil {
			c.Totals = map[string]decimal.Decimal{}
		}
		c.Totals[r.Currency] = c.Totals[r.Currency].Add(r.Remaining.Decimal)
	}
	if r.Stranded {
		c.Stranded = append(c.Stranded, *r)
	}
}

// Summarize reads every row of rows into a summary whose Rows is rows.
func Summarize(ctx context.Context, rows CommitmentRows) (Commitments, error) {
	out := NewCommitments(rows)
	err := rows.EachCommitment(ctx, func(r *CommitmentRow) error {
		out.Add(r)
		return nil
	})
	return out, err
}

// ComputeCommitments builds the Commitments block of a run whose period ends
// on periodEnd, with its rows in memory (also returned, in the report order).
func ComputeCommitments(periodEnd billing.Date, customers []LicenceCustomer, prices *UnitPrices) (Commitments, []CommitmentRow) {
	seats := accumulate(periodEnd, customers).Seats()
	var rows []CommitmentRow
	for _, c := range customers {
		rows = AppendCommitmentRows(rows, periodEnd, c.ID, c.Subs, seats, prices)
	}
	SortCommitmentRows(rows)
	out := NewCommitments(CommitmentSlice(rows))
	for i := range rows {
		out.Add(&rows[i])
	}
	return out, rows
}

// AppendCommitmentRows appends to rows one row per subscription of the
// customer with a commitmentTerm, complete (stranded from seats, unit cost
// and remaining from prices); the caller sorts them (SortCommitmentRows).
func AppendCommitmentRows(rows []CommitmentRow, periodEnd billing.Date, customerID string, subs []billing.Subscription,
	seats map[[2]string]*SeatCount, prices *UnitPrices) []CommitmentRow {
	for i := range subs {
		if len(subs[i].CommitmentTerm) > 0 {
			rows = append(rows, CommitmentRowOf(periodEnd, customerID, &subs[i], seats, prices))
		}
	}
	return rows
}

// CommitmentRowOf is the Commitments row of one subscription with a
// commitmentTerm: what the subscription says, completed with the run's
// payable prices and seat counts (Seats).
func CommitmentRowOf(periodEnd billing.Date, customerID string, s *billing.Subscription,
	seats map[[2]string]*SeatCount, prices *UnitPrices) CommitmentRow {
	sc := seats[[2]string{customerID, s.SKU}]
	stranded := sc != nil && sc.Subscribed.GreaterThan(sc.Billed)
	price, cur, n := prices.unit(customerID, s.SKU)
	return commitmentRow(periodEnd, customerID, s, stranded, price, cur, n)
}

// commitmentRow is CommitmentRowOf given the customer and SKU's stranded
// state and unit price (n as UnitPrices.unit returns it).
func commitmentRow(periodEnd billing.Date, customerID string, s *billing.Subscription,
	stranded bool, price decimal.Decimal, cur string, n int) CommitmentRow {
	t := termFieldsOf(periodEnd, s.CommitmentTerm)
	return t.row(customerID, s, stranded, price, cur, n)
}

// termFields is what a Commitments row takes from a subscription's
// commitmentTerm and the period end alone: the same for every subscription
// whose term has the same text (termCache).
type termFields struct {
	unreadable                   string // the term's parse error; the other fields are then unset
	typ                          string
	termEnd, renewal             billing.Date
	sched                        *int64 // never written through: rows may share it
	renews30, renews60, renews90 bool
	minimum                      int64
	days, months                 int
}

// termFieldsOf reads a commitmentTerm for a period ending on periodEnd.
func termFieldsOf(periodEnd billing.Date, raw billing.RawJSON) termFields {
	ct, err := billing.ParseCommitment(raw)
	if err != nil {
		return termFields{unreadable: err.Error()}
	}
	end := periodEnd.Time()
	t := termFields{typ: ct.Type, termEnd: ct.TermEndDate}
	if ct.Renewal != nil {
		t.renewal, t.sched = ct.Renewal.Date, ct.Renewal.ScheduledQuantity
		days := int(ct.Renewal.Date.Time().Sub(end).Hours() / 24)
		t.renews30, t.renews60, t.renews90 = days <= 30, days <= 60, days <= 90
	}
	t.minimum, _ = ct.MinimumOn(periodEnd)
	t.days = int(ct.TermEndDate.Time().Sub(end).Hours() / 24)
	t.months = wholeMonths(end, ct.TermEndDate.Time())
	return t
}

// row is the Commitments row of subscription s, whose term t is, given the
// customer and SKU's stranded state and unit price (n as UnitPrices.unit
// returns it).
func (t *termFields) row(customerID string, s *billing.Subscription,
	stranded bool, price decimal.Decimal, cur string, n int) CommitmentRow {
	r := CommitmentRow{CustomerID: customerID, SubscriptionID: s.ID, SKU: s.SKU, Product: s.ProductName,
		Quantity: s.Quantity.Decimal.IntPart()}
	if t.unreadable != "" {
		r.Unreadable = t.unreadable
		return r
	}
	r.TermType, r.TermEnd = t.typ, t.termEnd
	r.RenewalDate, r.ScheduledQuantity = t.renewal, t.sched
	r.Renews30, r.Renews60, r.Renews90 = t.renews30, t.renews60, t.renews90
	r.MinimumInForce = t.minimum
	r.DaysToTermEnd = t.days
	r.Months = t.months
	r.Stranded = stranded
	switch n {
	case 1:
		r.UnitCost = decimal.NullDecimal{Decimal: price, Valid: true}
		r.Currency = cur
		rem := price.Mul(decimal.NewFromInt(r.Quantity)).Mul(decimal.NewFromInt(int64(r.Months)))
		r.Remaining = decimal.NullDecimal{Decimal: rem, Valid: true}
	case 0:
		r.UnitCostNote = "no payable line price for this customer and SKU in the run"
	default:
		r.UnitCostNote = "several payable line prices for this customer and SKU in the run"
	}
	return r
}

// termCacheMax bounds a termCache: past it, the cache starts again empty.
const termCacheMax = 1024

// termCache keeps the termFields of the commitment texts read lately, by
// their text: a run's subscriptions share a few term texts (one product's
// subscriptions renew on the same days), so most are read once.
type termCache struct {
	end billing.Date
	m   map[string]termFields
}

// of returns the termFields of raw for a period ending on end.
func (c *termCache) of(end billing.Date, raw billing.RawJSON) termFields {
	if c.m == nil || c.end != end {
		c.m, c.end = make(map[string]termFields), end
	}
	if t, ok := c.m[string(raw)]; ok {
		return t
	}
	t := termFieldsOf(end, raw)
	if len(c.m) >= termCacheMax {
		clear(c.m)
	}
	c.m[string(raw)] = t
	return t
}

// SortCommitmentRows sorts rows in the report order: by customer, SKU and
// subscription id (case-insensitive).
func SortCommitmentRows(rows []CommitmentRow) {
	slices.SortStableFunc(rows, func(a, b CommitmentRow) int {
		if c := strings.Compare(a.CustomerID, b.CustomerID); c != 0 {
			return c
		}
		if c := strings.Compare(a.SKU, b.SKU); c != 0 {
			return c
		}
		return compareFolded(a.SubscriptionID, b.SubscriptionID)
	})
}

// compareFolded compares strings.ToLower(a) and strings.ToLower(b), without
// allocating when both are ASCII.
func compareFolded(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.Compare(strings.ToLower(a), strings.ToLower(b))
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	for _, s := range [2]string{a[n:], b[n:]} {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return strings.Compare(strings.ToLower(a), strings.ToLower(b))
			}
		}
	}
	return cmp.Compare(len(a), len(b))
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
