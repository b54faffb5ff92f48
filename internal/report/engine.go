package report

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// KindSubtotalIdentity is an extra data-quality finding, outside the six kinds
// of the rules: a payable line whose subTotal differs from
// quantity × netPriceProrated by more than 0.01. It never changes an amount,
// a total or one of the six kinds.
const KindSubtotalIdentity = "subtotal_identity"

// Tag names the attribution rules look for (compared case-insensitively).
const (
	TagCustomerID          = "CustomerId"
	TagCustomerDisplayName = "CustomerDisplayName"
)

// findingKindOrder is the order of finding kinds in Result.Mismatches. Kinds
// not listed (data-quality kinds) sort after these, by name.
var findingKindOrder = []string{
	KindMissingReceivables,
	KindUnattributed,
	KindUnbilled,
	KindUnexpectedReceivable,
	KindQuantityMismatch,
	KindNegativeMargin,
}

// FindingKinds returns the six finding kinds of the rules in report order.
func FindingKinds() []string { return slices.Clone(findingKindOrder) }

// notFetchedError is the MissingCustomer.Error of a customer that has no
// coverage entry at all.
const notFetchedError = "receivables were not fetched"

// ---------------------------------------------------------------------------
// Attribution

// Attributor applies the rules' attribution of a payable charge to a customer
// (see the package documentation). It is safe for concurrent use once built.
type Attributor struct {
	byID   map[string]*billing.Customer // exact id
	byFold map[string][]string          // lower-cased id → exact ids
	byName map[string][]string          // trimmed displayName → exact ids, sorted
	ids    []string                     // distinct ids, sorted
}

// NewAttributor indexes the known customers. A customer listed twice (same
// id) counts once; the first entry's display name is used.
func NewAttributor(customers []billing.Customer) *Attributor {
	a := &Attributor{
		byID:   make(map[string]*billing.Customer, len(customers)),
		byFold: make(map[string][]string, len(customers)),
		byName: make(map[string][]string, len(customers)),
	}
	for i := range customers {
		c := &customers[i]
		if c.ID == "" {
			continue
		}
		if _, dup := a.byID[c.ID]; dup {
			continue
		}
		a.byID[c.ID] = c
		a.ids = append(a.ids, c.ID)
		fold := strings.ToLower(c.ID)
		a.byFold[fold] = append(a.byFold[fold], c.ID)
		if n := strings.TrimSpace(c.DisplayName); n != "" {
			a.byName[n] = append(a.byName[n], c.ID)
		}
	}
	sort.Strings(a.ids)
	for _, ids := range a.byName {
		sort.Strings(ids)
	}
	return a
}

// matchID returns the known customers whose id equals v, case-insensitively.
// An exact (case-sensitive) match wins over case-insensitive ones.
func (a *Attributor) matchID(v string) []string {
	if _, ok := a.byID[v]; ok {
		return []string{v}
	}
	return a.byFold[strings.ToLower(v)]
}

// canonicalID maps an id to the known customer's id (exact, else the single
// case-insensitive match), or "" when it is not a known customer.
func (a *Attributor) canonicalID(v string) string {
	if ids := a.matchID(v); len(ids) == 1 {
		return ids[0]
	}
	return ""
}

// name returns the display name of a known customer.
func (a *Attributor) name(id string) string {
	if c, ok := a.byID[id]; ok {
		return c.DisplayName
	}
	return ""
}

// Attribute returns the customer a payable charge belongs to: its id and
// display name, or "", "" and the reason it is unattributed
// (ReasonNoCustomerTag, ReasonUnknownCustomer or ReasonAmbiguousName).
func (a *Attributor) Attribute(c *billing.PayableCharge) (customerID, customerName, reason string) {
	var tagSeen bool
	// Rule 1: a CustomerId tag whose value is a known customer id.
	var byID []string
	for _, t := range c.Tags {
		if !strings.EqualFold(t.Name, TagCustomerID) || strings.TrimSpace(t.Value) == "" {
			continue
		}
		tagSeen = true
		for _, id := range a.matchID(t.Value) {
			if !slices.Contains(byID, id) {
				byID = append(byID, id)
			}
		}
	}
	if len(byID) == 1 {
		return byID[0], a.name(byID[0]), ""
	}
	// Rule 2: a CustomerDisplayName tag whose trimmed value is the display
	// name of exactly one known customer.
	var byName []string
	for _, t := range c.Tags {
		if !strings.EqualFold(t.Name, TagCustomerDisplayName) {
			continue
		}
		v := strings.TrimSpace(t.Value)
		if v == "" {
			continue
		}
		tagSeen = true
		for _, id := range a.byName[v] {
			if !slices.Contains(byName, id) {
				byName = append(byName, id)
			}
		}
	}
	if len(byName) == 1 {
		return byName[0], a.name(byName[0]), ""
	}
	// Rule 3: unattributed.
	switch {
	case len(byID) > 1 || len(byName) > 1:
		return "", "", ReasonAmbiguousName
	case tagSeen:
		return "", "", ReasonUnknownCustomer
	default:
		return "", "", ReasonNoCustomerTag
	}
}

// ---------------------------------------------------------------------------
// Aggregates

// lineAgg is one side-by-side aggregate of a line key.
type lineAgg struct {
	customerID, sku, chargeType string
	from, to                    billing.Date
	currency                    string
	product                     string
	payQty, recQty, pay, rec    decimal.Decimal
	hasPay, hasRec              bool
}

// productAgg is one SKU × currency aggregate.
type productAgg struct {
	sku, currency            string
	payQty, recQty, pay, rec decimal.Decimal
}

// customerAgg is one customer × currency aggregate.
type customerAgg struct {
	customerID, currency string
	pay, rec             decimal.Decimal
}

// currencyAgg is one per-currency total.
type currencyAgg struct {
	pay, rec decimal.Decimal
}

// coverageState is what the engine decided about one customer's receivables.
type coverageState struct {
	status string // CoverageAvailable, CoverageFetchFailed or CoveragePeriodDiffers
	err    string
	seen   bool // a coverage entry was given
}

func coverageRank(s string) int {
	switch s {
	case CoverageAvailable:
		return 0
	case CoveragePeriodDiffers:
		return 1
	default:
		return 2
	}
}

// engineKey joins key fields into a map key. The fields are plain strings (never
// decimals), separated by a byte that does not occur in API text.
func engineKey(fields ...string) string { return strings.Join(fields, "\x00") }

// smallerName keeps the smallest non-empty product name, so that the name shown
// for a key or SKU does not depend on the order the lines arrived in.
func smallerName(cur, candidate string) string {
	if candidate == "" {
		return cur
	}
	if cur == "" || candidate < cur {
		return candidate
	}
	return cur
}

// ---------------------------------------------------------------------------
// Reconciler

// Reconciler computes a Result from charge lines fed one at a time. It keeps
// one aggregate per line key, per currency, per customer × currency and per
// SKU × currency, plus one finding per unattributed (or data-quality flagged)
// payable line; it does not keep the lines. It is not safe for concurrent use.
type Reconciler struct {
	in        Input
	tolerance decimal.Decimal
	attr      *Attributor
	coverage  map[string]*coverageState // every known customer

	lines     map[string]*lineAgg
	totals    map[string]*currencyAgg
	customers map[string]*customerAgg
	products  map[string]*productAgg
	skuNames  map[string]string // SKU → smallest non-empty product name of counted lines
	lineFinds []Finding         // unattributed and data-quality findings, one per line

	payableLines, receivableLines int
}

// NewReconciler starts a reconciliation of one period. Input.Customers are the
// known customers; Input.Coverage says whose receivables were fetched. A known
// customer without a coverage entry is missing with reason fetch_failed.
func NewReconciler(in Input, opts Options) *Reconciler {
	r := &Reconciler{
		in:        in,
		tolerance: effectiveTolerance(opts),
		attr:      NewAttributor(in.Customers),
		coverage:  make(map[string]*coverageState),
		lines:     make(map[string]*lineAgg),
		totals:    make(map[string]*currencyAgg),
		customers: make(map[string]*customerAgg),
		products:  make(map[string]*productAgg),
		skuNames:  make(map[string]string),
	}
	for _, id := range r.attr.ids {
		r.coverage[id] = &coverageState{status: CoverageFetchFailed, err: notFetchedError}
	}
	for _, cv := range in.Coverage {
		id := r.attr.canonicalID(cv.CustomerID)
		if id == "" {
			continue // not a known customer: nothing of it is counted
		}
		next := classifyCoverage(cv, in.Period)
		st := r.coverage[id]
		if !st.seen {
			*st = next
			continue
		}
		// Several entries for one customer: the worst one wins; ties keep the
		// smaller error text, so the order of entries does not matter.
		switch rn, rs := coverageRank(next.status), coverageRank(st.status); {
		case rn > rs, rn == rs && next.err < st.err:
			*st = next
		}
	}
	return r
}

func classifyCoverage(cv Coverage, period billing.Period) coverageState {
	switch {
	case cv.Status == CoverageAvailable && cv.Period.Equal(period):
		return coverageState{status: CoverageAvailable, seen: true}
	case cv.Status == CoverageAvailable || cv.Status == CoveragePeriodDiffers:
		msg := cv.Error
		if msg == "" {
			msg = fmt.Sprintf("receivables period %s differs from payable period %s", cv.Period, period)
		}
		return coverageState{status: CoveragePeriodDiffers, err: msg, seen: true}
	default:
		msg := cv.Error
		if msg == "" {
			msg = "receivables fetch failed"
		}
		return coverageState{status: CoverageFetchFailed, err: msg, seen: true}
	}
}

func (r *Reconciler) available(id string) bool {
	st, ok := r.coverage[id]
	return ok && st.status == CoverageAvailable
}

func (r *Reconciler) total(cur string) *currencyAgg {
	t, ok := r.totals[cur]
	if !ok {
		t = &currencyAgg{}
		r.totals[cur] = t
	}
	return t
}

func (r *Reconciler) customer(id, cur string) *customerAgg {
	k := engineKey(id, cur)
	c, ok := r.customers[k]
	if !ok {
		c = &customerAgg{customerID: id, currency: cur}
		r.customers[k] = c
	}
	return c
}

func (r *Reconciler) product(sku, cur string) *productAgg {
	k := engineKey(sku, cur)
	p, ok := r.products[k]
	if !ok {
		p = &productAgg{sku: sku, currency: cur}
		r.products[k] = p
	}
	return p
}

func (r *Reconciler) line(id, sku, chargeType string, from, to billing.Date, cur string) *lineAgg {
	k := engineKey(id, sku, chargeType, string(from), string(to), cur)
	l, ok := r.lines[k]
	if !ok {
		l = &lineAgg{customerID: id, sku: sku, chargeType: chargeType, from: from, to: to, currency: cur}
		r.lines[k] = l
	}
	return l
}

// AddPayable counts one payable charge line. Its amount is subTotal as sent.
// The caller is expected to have validated the line (billing.PayableCharge.Validate).
func (r *Reconciler) AddPayable(c *billing.PayableCharge) {
	r.payableLines++
	cur := NormalizeCurrency(c.Currency)
	amt := c.Amount()
	qty := c.Quantity.Decimal

	t := r.total(cur)
	t.pay = t.pay.Add(amt)

	id, name, reason := r.attr.Attribute(c)
	if c.Quantity.Valid && c.NetPriceProrated.Valid && c.SubTotal.Valid {
		expected := qty.Mul(c.NetPriceProrated.Decimal)
		if diff := c.SubTotal.Decimal.Sub(expected); diff.Abs().Cmp(subtotalTolerance) > 0 {
			f := payableFinding(KindSubtotalIdentity, c, cur, fmt.Sprintf(
				"subTotal %s differs from quantity × netPriceProrated = %s by %s",
				billing.Text(c.SubTotal.Decimal), billing.Text(expected), billing.Text(diff)))
			f.CustomerID, f.CustomerName = id, name
			r.lineFinds = append(r.lineFinds, f)
		}
	}
	if id == "" {
		r.lineFinds = append(r.lineFinds, payableFinding(KindUnattributed, c, cur, reason))
		return
	}

	cu := r.customer(id, cur)
	cu.pay = cu.pay.Add(amt)

	p := r.product(c.SKU, cur)
	p.payQty = p.payQty.Add(qty)
	p.pay = p.pay.Add(amt)
	r.skuNames[c.SKU] = smallerName(r.skuNames[c.SKU], c.ProductName)

	l := r.line(id, c.SKU, c.ChargeType, c.PeriodFrom, c.PeriodTo, cur)
	l.hasPay = true
	l.payQty = l.payQty.Add(qty)
	l.pay = l.pay.Add(amt)
	l.product = smallerName(l.product, c.ProductName)
}

// payableFinding is a per-line finding of one payable line (unattributed or
// data quality), without a customer.
func payableFinding(kind string, c *billing.PayableCharge, cur, reason string) Finding {
	return Finding{
		Kind:             kind,
		SKU:              c.SKU,
		Product:          c.ProductName,
		ChargeType:       c.ChargeType,
		PeriodFrom:       c.PeriodFrom,
		PeriodTo:         c.PeriodTo,
		Currency:         cur,
		PayableQty:       c.Quantity.Decimal,
		ReceivableQty:    decimal.Zero,
		PayableAmount:    c.Amount(),
		ReceivableAmount: decimal.Zero,
		Reason:           reason,
	}
}

// AddReceivable counts one receivable charge line of a customer. Lines of a
// customer that is not known, or whose receivables are not available for the
// period, are ignored (they are still counted in Result.ReceivableLines).
// The amount is quantity × costPriceProrated, exactly.
func (r *Reconciler) AddReceivable(customerID string, c *billing.ReceivableCharge) {
	r.receivableLines++
	id := r.attr.canonicalID(customerID)
	if id == "" || !r.available(id) {
		return
	}
	cur := NormalizeCurrency(c.Currency)
	amt := c.Amount()
	qty := c.Quantity.Decimal

	t := r.total(cur)
	t.rec = t.rec.Add(amt)

	cu := r.customer(id, cur)
	cu.rec = cu.rec.Add(amt)

	p := r.product(c.SKU, cur)
	p.recQty = p.recQty.Add(qty)
	p.rec = p.rec.Add(amt)
	r.skuNames[c.SKU] = smallerName(r.skuNames[c.SKU], c.ProductName)

	l := r.line(id, c.SKU, c.ChargeType, c.PeriodFrom, c.PeriodTo, cur)
	l.hasRec = true
	l.recQty = l.recQty.Add(qty)
	l.rec = l.rec.Add(amt)
	l.product = smallerName(l.product, c.ProductName)
}

// Result returns the reconciliation so far, sorted deterministically. It does
// not change the Reconciler and may be called more than once.
func (r *Reconciler) Result() *Result {
	res := &Result{
		RunID:           r.in.RunID,
		Period:          r.in.Period,
		PayableLines:    r.payableLines,
		ReceivableLines: r.receivableLines,
		Tolerance:       r.tolerance,
		Attribute:       r.attr.Attribute,
		Totals:          []CurrencyTotal{},
		Customers:       []CustomerRow{},
		Products:        []ProductRow{},
		Mismatches:      []Finding{},
	}

	// Coverage.
	res.Complete = r.in.PayableOK
	res.Coverage.Customers = len(r.attr.ids)
	res.Coverage.Missing = []MissingCustomer{}
	for _, id := range r.attr.ids { // sorted
		st := r.coverage[id]
		if st.status == CoverageAvailable {
			res.Coverage.Available++
			continue
		}
		if st.status == CoverageFetchFailed {
			res.Complete = false
		}
		res.Coverage.Missing = append(res.Coverage.Missing, MissingCustomer{CustomerID: id, Reason: st.status, Error: st.err})
	}

	// Totals per currency.
	for cur, t := range r.totals {
		res.Totals = append(res.Totals, CurrencyTotal{
			Currency: cur, Payable: t.pay, Receivable: t.rec, Margin: t.rec.Sub(t.pay),
		})
	}
	slices.SortFunc(res.Totals, func(a, b CurrencyTotal) int { return cmp.Compare(a.Currency, b.Currency) })

	// Customer rows, and the per-currency payable sums of missing customers.
	missingPay := map[string][]CustomerRow{}
	for _, c := range r.customers {
		row := CustomerRow{
			CustomerID:   c.customerID,
			CustomerName: r.attr.name(c.customerID),
			Currency:     c.currency,
			Payable:      c.pay,
			Receivable:   c.rec,
			Margin:       c.rec.Sub(c.pay),
			Available:    r.available(c.customerID),
		}
		res.Customers = append(res.Customers, row)
		if !row.Available {
			missingPay[row.CustomerID] = append(missingPay[row.CustomerID], row)
		}
	}
	slices.SortFunc(res.Customers, func(a, b CustomerRow) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Currency, b.Currency))
	})

	// Product rows.
	for _, p := range r.products {
		res.Products = append(res.Products, ProductRow{
			SKU: p.sku, Product: r.skuNames[p.sku], Currency: p.currency,
			PayableQty: p.payQty, ReceivableQty: p.recQty,
			Payable: p.pay, Receivable: p.rec, Margin: p.rec.Sub(p.pay),
		})
	}
	slices.SortFunc(res.Products, func(a, b ProductRow) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Currency, b.Currency))
	})

	// Findings: missing receivables.
	for _, m := range res.Coverage.Missing {
		rows := missingPay[m.CustomerID]
		if len(rows) == 0 {
			res.Mismatches = append(res.Mismatches, Finding{
				Kind: KindMissingReceivables, CustomerID: m.CustomerID, CustomerName: r.attr.name(m.CustomerID),
				PayableQty: decimal.Zero, ReceivableQty: decimal.Zero,
				PayableAmount: decimal.Zero, ReceivableAmount: decimal.Zero, Reason: m.Reason,
			})
			continue
		}
		for _, row := range rows {
			res.Mismatches = append(res.Mismatches, Finding{
				Kind: KindMissingReceivables, CustomerID: m.CustomerID, CustomerName: row.CustomerName,
				Currency: row.Currency, PayableQty: decimal.Zero, ReceivableQty: decimal.Zero,
				PayableAmount: row.Payable, ReceivableAmount: decimal.Zero, Reason: m.Reason,
			})
		}
	}

	// Findings: per line (unattributed, data quality).
	res.Mismatches = append(res.Mismatches, r.lineFinds...)

	// Findings: per line key, available customers only.
	negTol := r.tolerance.Neg()
	for _, l := range r.lines {
		if !r.available(l.customerID) {
			continue
		}
		base := Finding{
			CustomerID: l.customerID, CustomerName: r.attr.name(l.customerID),
			SKU: l.sku, Product: l.product, ChargeType: l.chargeType,
			PeriodFrom: l.from, PeriodTo: l.to, Currency: l.currency,
			PayableQty: l.payQty, ReceivableQty: l.recQty,
			PayableAmount: l.pay, ReceivableAmount: l.rec,
		}
		add := func(kind string) {
			f := base
			f.Kind = kind
			res.Mismatches = append(res.Mismatches, f)
		}
		switch {
		case l.hasPay && !l.hasRec:
			add(KindUnbilled)
		case l.hasRec && !l.hasPay:
			add(KindUnexpectedReceivable)
		default:
			if l.payQty.Cmp(l.recQty) != 0 {
				add(KindQuantityMismatch)
			}
			if l.rec.Sub(l.pay).Cmp(negTol) < 0 {
				add(KindNegativeMargin)
			}
		}
	}
	slices.SortFunc(res.Mismatches, compareFindings)
	return res
}

func findingKindRank(kind string) int {
	if i := slices.Index(findingKindOrder, kind); i >= 0 {
		return i
	}
	return len(findingKindOrder)
}

// compareFindings orders findings by kind (rules order, then extra kinds by
// name), customer id, SKU, charge type, period from, period to, currency, then
// by amounts and the remaining fields, so that the order is total.
func compareFindings(a, b Finding) int {
	return cmp.Or(
		cmp.Compare(findingKindRank(a.Kind), findingKindRank(b.Kind)),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.CustomerID, b.CustomerID),
		cmp.Compare(a.SKU, b.SKU),
		cmp.Compare(a.ChargeType, b.ChargeType),
		cmp.Compare(a.PeriodFrom, b.PeriodFrom),
		cmp.Compare(a.PeriodTo, b.PeriodTo),
		cmp.Compare(a.Currency, b.Currency),
		a.PayableAmount.Cmp(b.PayableAmount),
		a.PayableQty.Cmp(b.PayableQty),
		a.ReceivableAmount.Cmp(b.ReceivableAmount),
		a.ReceivableQty.Cmp(b.ReceivableQty),
		cmp.Compare(billing.Text(a.PayableAmount), billing.Text(b.PayableAmount)),
		cmp.Compare(billing.Text(a.PayableQty), billing.Text(b.PayableQty)),
		cmp.Compare(billing.Text(a.ReceivableAmount), billing.Text(b.ReceivableAmount)),
		cmp.Compare(billing.Text(a.ReceivableQty), billing.Text(b.ReceivableQty)),
		cmp.Compare(a.Reason, b.Reason),
		cmp.Compare(a.Product, b.Product),
		cmp.Compare(a.CustomerName, b.CustomerName),
	)
}

// Reconcile is the convenience form of Reconciler: payables in the given
// order, receivables by customer id in sorted order.
func Reconcile(in Input, payables []billing.PayableCharge, receivables map[string][]billing.ReceivableCharge, opts Options) *Result {
	r := NewReconciler(in, opts)
	for i := range payables {
		r.AddPayable(&payables[i])
	}
	ids := make([]string, 0, len(receivables))
	for id := range receivables {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		lines := receivables[id]
		for i := range lines {
			r.AddReceivable(id, &lines[i])
		}
	}
	return r.Result()
}
