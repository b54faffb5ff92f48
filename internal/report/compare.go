package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// Customer statuses of a comparison (comparison-rules.md).
const (
	StatusContinuing = "continuing"
	StatusNew        = "new"
	StatusLost       = "lost"
	StatusCoverage   = "coverage"
)

// Finding movement statuses.
const (
	MovementNew        = "new"
	MovementResolved   = "resolved"
	MovementPersisting = "persisting"
)

// Comparison is what changed between two reconciled runs, base and current
// (comparison-rules.md, version 1). All slices are non-nil and sorted
// deterministically; every amount is exact.
type Comparison struct {
	Base, Current ComparedRun
	// Complete is true only when both runs are complete.
	Complete bool
	// SamePeriod is true when both runs are of the same period (a restatement
	// check: Restatements is then filled).
	SamePeriod bool
	// BaseIsNewer is true when the base run is newer than the current one:
	// its period starts later, or, for the same period, its run id is higher.
	// The comparison is still computed base → current, as asked.
	BaseIsNewer  bool
	Bridge       []BridgeRow          // by currency
	Customers    []CustomerMovement   // by customer id, currency
	Products     []ProductMovement    // by SKU, currency
	Findings     []FindingMovement    // by kind (report order), customer id, SKU, charge type, currency
	Restatements []RestatementRow     // by line key; empty unless SamePeriod
	Tolerance    decimal.Decimal      // the tolerance both runs were reconciled with
	Incomplete   []IncompleteRunCause // why the comparison is incomplete; empty when Complete
}

// ComparedRun identifies one side of a comparison.
type ComparedRun struct {
	RunID    string
	Period   billing.Period
	Complete bool
}

// IncompleteRunCause names a run that is not complete and the customers at
// fault (those whose receivables fetch failed), for the INCOMPLETE banner.
type IncompleteRunCause struct {
	Side      string // "base" or "current"
	RunID     string
	Customers []MissingCustomer // fetch_failed customers, sorted by id
}

// BridgeRow is the margin bridge of one currency: StartMargin plus every
// bucket equals EndMargin exactly.
type BridgeRow struct {
	Currency      string
	StartMargin   decimal.Decimal
	Coverage      decimal.Decimal
	NewCustomers  decimal.Decimal
	LostCustomers decimal.Decimal
	NewProducts   decimal.Decimal
	LostProducts  decimal.Decimal
	Volume        decimal.Decimal
	Rate          decimal.Decimal
	Unattributed  decimal.Decimal
	EndMargin     decimal.Decimal
}

// Sum is StartMargin plus every bucket (equal to EndMargin by construction).
func (b BridgeRow) Sum() decimal.Decimal {
	return b.StartMargin.Add(b.Coverage).Add(b.NewCustomers).Add(b.LostCustomers).
		Add(b.NewProducts).Add(b.LostProducts).Add(b.Volume).Add(b.Rate).Add(b.Unattributed)
}

// CustomerMovement is one customer × currency with a row in either run. The
// split (NewProducts, LostProducts, Volume, Rate) is only set (HasSplit) for
// continuing customers, and then sums exactly to MarginCurrent − MarginBase.
type CustomerMovement struct {
	CustomerID        string
	CustomerName      string
	Currency          string
	Status            string // StatusContinuing, StatusNew, StatusLost or StatusCoverage
	InBase, InCurrent bool   // the customer has a row in that run
	PayableBase       decimal.Decimal
	PayableCurrent    decimal.Decimal
	ReceivableBase    decimal.Decimal
	ReceivableCurrent decimal.Decimal
	MarginBase        decimal.Decimal
	MarginCurrent     decimal.Decimal
	HasSplit          bool
	NewProducts       decimal.Decimal
	LostProducts      decimal.Decimal
	Volume            decimal.Decimal
	Rate              decimal.Decimal
}

// Change is MarginCurrent − MarginBase.
func (c CustomerMovement) Change() decimal.Decimal { return c.MarginCurrent.Sub(c.MarginBase) }

// ProductMovement is one SKU × currency (rules v1 product rows) in both runs;
// zero on a side where the SKU has no row.
type ProductMovement struct {
	SKU                  string
	Product              string
	Currency             string
	PayableQtyBase       decimal.Decimal
	PayableQtyCurrent    decimal.Decimal
	ReceivableQtyBase    decimal.Decimal
	ReceivableQtyCurrent decimal.Decimal
	PayableBase          decimal.Decimal
	PayableCurrent       decimal.Decimal
	ReceivableBase       decimal.Decimal
	ReceivableCurrent    decimal.Decimal
	InBase, InCurrent    bool
}

// FindingMovement is one fingerprint's findings in both runs.
type FindingMovement struct {
	Fingerprint  string // FingerprintKey.String()
	Key          FingerprintKey
	Status       string // MovementNew, MovementResolved or MovementPersisting
	CustomerName string // from the current run, else the base run
	Product      string // idem
	CountBase    int
	CountCurrent int
	// AmountBase / AmountCurrent are Σ (receivable − payable) of the group's
	// findings in that run (zero when it has none there).
	AmountBase    decimal.Decimal
	AmountCurrent decimal.Decimal
}

// Changed reports whether a persisting group's count or amount moved.
func (f FindingMovement) Changed() bool {
	return f.Status == MovementPersisting && (f.CountBase != f.CountCurrent || f.AmountBase.Cmp(f.AmountCurrent) != 0)
}

// RestatementRow is one rules v1 line key whose sums differ between two runs
// of the same period (or that is in only one of them; the other side is then
// zero and InBase or InCurrent is false).
type RestatementRow struct {
	CustomerID              string
	SKU                     string
	ChargeType              string
	PeriodFrom              billing.Date
	PeriodTo                billing.Date
	Currency                string
	InBase, InCurrent       bool
	PayableQtyBase          decimal.Decimal
	PayableQtyCurrent       decimal.Decimal
	PayableAmountBase       decimal.Decimal
	PayableAmountCurrent    decimal.Decimal
	ReceivableQtyBase       decimal.Decimal
	ReceivableQtyCurrent    decimal.Decimal
	ReceivableAmountBase    decimal.Decimal
	ReceivableAmountCurrent decimal.Decimal
}

// volumeScale is the number of decimals of the volume effect v.
const volumeScale = 2

// Compare computes the comparison of base → current. Both snapshots must have
// been reconciled with the same tolerance. When both runs are of the same
// period, both snapshots must carry their line keys (SnapshotOptions.LineKeys).
// The snapshots are not changed.
func Compare(base, current Snapshot) (Comparison, error) {
	b, c := &base.Result, &current.Result
	if b.Tolerance.Cmp(c.Tolerance) != 0 {
		return Comparison{}, fmt.Errorf("compare run %s with run %s: tolerances differ (%s and %s); reconcile both with the same --tolerance",
			b.RunID, c.RunID, billing.Text(b.Tolerance), billing.Text(c.Tolerance))
	}
	out := Comparison{
		Base:         ComparedRun{RunID: b.RunID, Period: b.Period, Complete: b.Complete},
		Current:      ComparedRun{RunID: c.RunID, Period: c.Period, Complete: c.Complete},
		Complete:     b.Complete && c.Complete,
		SamePeriod:   b.Period.Equal(c.Period),
		Tolerance:    c.Tolerance,
		Bridge:       []BridgeRow{},
		Customers:    []CustomerMovement{},
		Products:     []ProductMovement{},
		Findings:     []FindingMovement{},
		Restatements: []RestatementRow{},
		Incomplete:   []IncompleteRunCause{},
	}
	out.BaseIsNewer = baseIsNewer(b, c)
	for _, side := range []struct {
		name string
		r    *Result
	}{{"base", b}, {"current", c}} {
		if side.r.Complete {
			continue
		}
		cause := IncompleteRunCause{Side: side.name, RunID: side.r.RunID, Customers: []MissingCustomer{}}
		for _, m := range side.r.Coverage.Missing {
			if m.Reason == billing.CoverageFetchFailed {
				cause.Customers = append(cause.Customers, m)
			}
		}
		out.Incomplete = append(out.Incomplete, cause)
	}
	if err := checkBridgeLines(&base); err != nil {
		return Comparison{}, err
	}
	if err := checkBridgeLines(&current); err != nil {
		return Comparison{}, err
	}
	out.Bridge, out.Customers = bridge(&base, &current)
	out.Products = productMovements(b, c)
	out.Findings = findingMovements(b, c)
	if out.SamePeriod {
		if !base.HasLineKeys || !current.HasLineKeys {
			return Comparison{}, fmt.Errorf("compare runs %s and %s of the same period %s: the restatement check needs the line keys of both runs (SnapshotOptions.LineKeys)",
				b.RunID, c.RunID, b.Period)
		}
		out.Restatements = restatements(&base.lines, &current.lines)
	}
	return out, nil
}

// baseIsNewer: the base period starts after the current one, or the periods
// are the same and the base run id is higher (numerically when both are
// numbers, as ledger run ids are).
func baseIsNewer(b, c *Result) bool {
	if b.Period.From != c.Period.From {
		return b.Period.From > c.Period.From
	}
	bi, err1 := strconv.ParseInt(b.RunID, 10, 64)
	ci, err2 := strconv.ParseInt(c.RunID, 10, 64)
	if err1 == nil && err2 == nil {
		return bi > ci
	}
	return b.RunID > c.RunID
}

type custCur struct{ id, cur string }

// checkBridgeLines verifies that the snapshot's bridge lines add up to its
// customer rows: the guarantee that the bridge ties to the rules v1 totals.
func checkBridgeLines(s *Snapshot) error {
	type payRec struct{ pay, rec sum }
	sums := map[custCur]*payRec{}
	var last custCur
	var at *payRec
	it := s.lines.bridge()
	for it.next() {
		k := custCur{it.customerID(), it.currency()}
		if at == nil || k != last {
			if at = sums[k]; at == nil {
				at = &payRec{}
				sums[k] = at
			}
			last = k
		}
		g := it.cur()
		at.pay.add(g.pay.value())
		at.rec.add(g.rec.value())
	}
	if len(sums) != len(s.Result.Customers) {
		return fmt.Errorf("run %s: %d customer rows but bridge lines for %d customer × currency pairs (snapshot not built from the same lines)",
			s.Result.RunID, len(s.Result.Customers), len(sums))
	}
	for _, row := range s.Result.Customers {
		got := decimal.Zero
		pr, ok := sums[custCur{row.CustomerID, row.Currency}]
		if ok {
			got = pr.rec.decimal().Sub(pr.pay.decimal())
		}
		if !ok || got.Cmp(row.Margin) != 0 {
			return fmt.Errorf("run %s: bridge lines of customer %s %s add up to margin %s, the customer row says %s (snapshot not built from the same lines)",
				s.Result.RunID, row.CustomerID, row.Currency, billing.Text(got), billing.Text(row.Margin))
		}
	}
	return nil
}

func missingSet(r *Result) map[string]bool {
	m := make(map[string]bool, len(r.Coverage.Missing))
	for _, x := range r.Coverage.Missing {
		m[x.CustomerID] = true
	}
	return m
}

// unattributedByCurrency is U: Σ unattributed payable amounts per currency.
func unattributedByCurrency(r *Result) map[string]decimal.Decimal {
	u := map[string]decimal.Decimal{}
	for i := range r.Mismatches {
		f := &r.Mismatches[i]
		if f.Kind == KindUnattributed {
			u[f.Currency] = u[f.Currency].Add(f.PayableAmount)
		}
	}
	return u
}

// bridge computes the margin bridge per currency and the customer rows.
func bridge(base, cur *Snapshot) ([]BridgeRow, []CustomerMovement) {
	b, c := &base.Result, &cur.Result
	rows := map[string]*BridgeRow{}
	row := func(currency string) *BridgeRow {
		r, ok := rows[currency]
		if !ok {
			z := decimal.Zero
			r = &BridgeRow{Currency: currency, StartMargin: z, Coverage: z, NewCustomers: z, LostCustomers: z,
				NewProducts: z, LostProducts: z, Volume: z, Rate: z, Unattributed: z, EndMargin: z}
			rows[currency] = r
		}
		return r
	}
	for _, t := range b.Totals {
		row(t.Currency).StartMargin = t.Margin
	}
	for _, t := range c.Totals {
		row(t.Currency).EndMargin = t.Margin
	}
	ub, uc := unattributedByCurrency(b), unattributedByCurrency(c)
	for cur, v := range ub {
		r := row(cur)
		r.Unattributed = r.Unattributed.Add(v)
	}
	for cur, v := range uc {
		r := row(cur)
		r.Unattributed = r.Unattributed.Sub(v)
	}

	mb, mc := missingSet(b), missingSet(c)

	type pair struct{ base, cur *CustomerRow }
	pairs := map[custCur]*pair{}
	for i := range b.Customers {
		r := &b.Customers[i]
		pairs[custCur{r.CustomerID, r.Currency}] = &pair{base: r}
	}
	for i := range c.Customers {
		r := &c.Customers[i]
		k := custCur{r.CustomerID, r.Currency}
		if p, ok := pairs[k]; ok {
			p.cur = r
		} else {
			pairs[k] = &pair{cur: r}
		}
	}
	// The continuing customers' splits, from one merge pass over both runs'
	// bridge lines.
	splits := map[custCur]*CustomerMovement{}
	for k, p := range pairs {
		if p.base != nil && p.cur != nil && !mb[k.id] && !mc[k.id] {
			z := decimal.Zero
			splits[k] = &CustomerMovement{NewProducts: z, LostProducts: z, Volume: z, Rate: z}
		}
	}
	splitContinuing(splits, base, cur)

	custs := make([]CustomerMovement, 0, len(pairs))
	for k, p := range pairs {
		z := decimal.Zero
		m := CustomerMovement{CustomerID: k.id, Currency: k.cur,
			PayableBase: z, PayableCurrent: z, ReceivableBase: z, ReceivableCurrent: z,
			MarginBase: z, MarginCurrent: z, NewProducts: z, LostProducts: z, Volume: z, Rate: z}
		if p.base != nil {
			m.InBase, m.CustomerName = true, p.base.CustomerName
			m.PayableBase, m.ReceivableBase, m.MarginBase = p.base.Payable, p.base.Receivable, p.base.Margin
		}
		if p.cur != nil {
			m.InCurrent, m.CustomerName = true, p.cur.CustomerName
			m.PayableCurrent, m.ReceivableCurrent, m.MarginCurrent = p.cur.Payable, p.cur.Receivable, p.cur.Margin
		}
		r := row(k.cur)
		switch {
		case mb[k.id] || mc[k.id]:
			m.Status = StatusCoverage
			r.Coverage = r.Coverage.Add(m.Change())
		case !m.InBase:
			m.Status = StatusNew
			r.NewCustomers = r.NewCustomers.Add(m.MarginCurrent)
		case !m.InCurrent:
			m.Status = StatusLost
			r.LostCustomers = r.LostCustomers.Sub(m.MarginBase)
		default:
			m.Status, m.HasSplit = StatusContinuing, true
			sp := splits[k]
			m.NewProducts, m.LostProducts, m.Volume, m.Rate = sp.NewProducts, sp.LostProducts, sp.Volume, sp.Rate
			r.NewProducts = r.NewProducts.Add(m.NewProducts)
			r.LostProducts = r.LostProducts.Add(m.LostProducts)
			r.Volume = r.Volume.Add(m.Volume)
			r.Rate = r.Rate.Add(m.Rate)
		}
		custs = append(custs, m)
	}
	slices.SortFunc(custs, func(a, b CustomerMovement) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Currency, b.Currency))
	})
	out := make([]BridgeRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b BridgeRow) int { return cmp.Compare(a.Currency, b.Currency) })
	return out, custs
}

// splitContinuing splits each continuing customer's margin change (splits,
// by customer and currency) over its bridge lines (SKUs) into new products,
// lost products, volume and rate: one merge pass over the two runs' bridge
// lines, both sorted by customer id, SKU, currency. The sums are exact, so
// their order does not matter.
func splitContinuing(splits map[custCur]*CustomerMovement, base, cur *Snapshot) {
	ib, ic := base.lines.bridge(), cur.lines.bridge()
	okB, okC := ib.next(), ic.next()
	var last custCur
	var m *CustomerMovement
	at := func(k custCur) *CustomerMovement {
		if k != last || m == nil {
			last, m = k, splits[k]
		}
		return m
	}
	margin := func(g *bridgeAgg) decimal.Decimal { return g.rec.decimal().Sub(g.pay.decimal()) }
	for okB || okC {
		var c int
		switch {
		case !okB:
			c = 1
		case !okC:
			c = -1
		default:
			c = cmp.Or(strings.Compare(ib.customerID(), ic.customerID()), strings.Compare(ib.sku(), ic.sku()),
				strings.Compare(ib.currency(), ic.currency()))
		}
		switch {
		case c < 0: // only in the base run: a lost product
			if m := at(custCur{ib.customerID(), ib.currency()}); m != nil {
				m.LostProducts = m.LostProducts.Sub(margin(ib.cur()))
			}
			okB = ib.next()
		case c > 0: // only in the current run: a new product
			if m := at(custCur{ic.customerID(), ic.currency()}); m != nil {
				m.NewProducts = m.NewProducts.Add(margin(ic.cur()))
			}
			okC = ic.next()
		default:
			if m := at(custCur{ic.customerID(), ic.currency()}); m != nil {
				gb, gc := ib.cur(), ic.cur()
				mb, mc := margin(gb), margin(gc)
				v := VolumeEffect(gb.qty.decimal(), gc.qty.decimal(), mb)
				m.Volume = m.Volume.Add(v)
				m.Rate = m.Rate.Add(mc.Sub(mb).Sub(v))
			}
			okB, okC = ib.next(), ic.next()
		}
	}
}

// VolumeEffect is v = (qCur − qBase) × mBase ÷ qBase, rounded to 2 decimals
// half away from zero; 0 when qBase is 0 (comparison-rules.md). The division
// is exact before the single rounding step.
func VolumeEffect(qBase, qCur, mBase decimal.Decimal) decimal.Decimal {
	if qBase.IsZero() {
		return decimal.Zero
	}
	return qCur.Sub(qBase).Mul(mBase).DivRound(qBase, volumeScale)
}

type skuCur struct{ sku, cur string }

func productMovements(b, c *Result) []ProductMovement {
	m := map[skuCur]*ProductMovement{}
	at := func(sku, cur string) *ProductMovement {
		k := skuCur{sku, cur}
		p, ok := m[k]
		if !ok {
			z := decimal.Zero
			p = &ProductMovement{SKU: sku, Currency: cur, PayableQtyBase: z, PayableQtyCurrent: z,
				ReceivableQtyBase: z, ReceivableQtyCurrent: z, PayableBase: z, PayableCurrent: z,
				ReceivableBase: z, ReceivableCurrent: z}
			m[k] = p
		}
		return p
	}
	for _, r := range b.Products {
		p := at(r.SKU, r.Currency)
		p.InBase, p.Product = true, r.Product
		p.PayableQtyBase, p.ReceivableQtyBase, p.PayableBase, p.ReceivableBase = r.PayableQty, r.ReceivableQty, r.Payable, r.Receivable
	}
	for _, r := range c.Products {
		p := at(r.SKU, r.Currency)
		p.InCurrent = true
		if r.Product != "" {
			p.Product = r.Product
		}
		p.PayableQtyCurrent, p.ReceivableQtyCurrent, p.PayableCurrent, p.ReceivableCurrent = r.PayableQty, r.ReceivableQty, r.Payable, r.Receivable
	}
	out := make([]ProductMovement, 0, len(m))
	for _, p := range m {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b ProductMovement) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Currency, b.Currency))
	})
	return out
}

func findingMovements(b, c *Result) []FindingMovement {
	m := map[FingerprintKey]*FindingMovement{}
	add := func(r *Result, current bool) {
		for i := range r.Mismatches {
			f := &r.Mismatches[i]
			k := FingerprintOf(f)
			g, ok := m[k]
			if !ok {
				g = &FindingMovement{Key: k, Fingerprint: k.String(), AmountBase: decimal.Zero, AmountCurrent: decimal.Zero}
				m[k] = g
			}
			if current {
				g.CountCurrent++
				g.AmountCurrent = g.AmountCurrent.Add(f.Difference())
				if f.CustomerName != "" {
					g.CustomerName = f.CustomerName
				}
				if f.Product != "" {
					g.Product = f.Product
				}
			} else {
				g.CountBase++
				g.AmountBase = g.AmountBase.Add(f.Difference())
				if g.CustomerName == "" {
					g.CustomerName = f.CustomerName
				}
				if g.Product == "" {
					g.Product = f.Product
				}
			}
		}
	}
	add(b, false)
	add(c, true) // the current run's non-empty names win

	out := make([]FindingMovement, 0, len(m))
	for _, g := range m {
		switch {
		case g.CountBase == 0:
			g.Status = MovementNew
		case g.CountCurrent == 0:
			g.Status = MovementResolved
		default:
			g.Status = MovementPersisting
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b FindingMovement) int {
		return cmp.Or(
			cmp.Compare(findingKindRank(a.Key.Kind), findingKindRank(b.Key.Kind)),
			cmp.Compare(a.Key.Kind, b.Key.Kind),
			cmp.Compare(a.Key.CustomerID, b.Key.CustomerID),
			cmp.Compare(a.Key.SKU, b.Key.SKU),
			cmp.Compare(a.Key.ChargeType, b.Key.ChargeType),
			cmp.Compare(a.Key.Currency, b.Key.Currency),
		)
	})
	return out
}

// restatements merges two runs' line tables (both sorted by line key) and
// returns the keys whose sums differ or that are in one run only.
func restatements(base, cur *lineTable) []RestatementRow {
	out := []RestatementRow{}
	z := decimal.Zero
	cb, cc := base.cursor(), cur.cursor()
	okB, okC := cb.next(), cc.next()
	for okB || okC {
		var c int
		switch {
		case !okB:
			c = 1
		case !okC:
			c = -1
		default:
			c = compareKeys(cb, cc)
		}
		if c == 0 && sameSums(&cb.rec, &cc.rec) {
			okB, okC = cb.next(), cc.next()
			continue
		}
		r := RestatementRow{PayableQtyBase: z, PayableQtyCurrent: z, PayableAmountBase: z, PayableAmountCurrent: z,
			ReceivableQtyBase: z, ReceivableQtyCurrent: z, ReceivableAmountBase: z, ReceivableAmountCurrent: z}
		var k LineKeyTotal
		if c <= 0 {
			k = cb.total()
			r.InBase = true
			r.PayableQtyBase, r.PayableAmountBase = k.PayableQty, k.PayableAmount
			r.ReceivableQtyBase, r.ReceivableAmountBase = k.ReceivableQty, k.ReceivableAmount
			okB = cb.next()
		}
		if c >= 0 {
			k = cc.total()
			r.InCurrent = true
			r.PayableQtyCurrent, r.PayableAmountCurrent = k.PayableQty, k.PayableAmount
			r.ReceivableQtyCurrent, r.ReceivableAmountCurrent = k.ReceivableQty, k.ReceivableAmount
			okC = cc.next()
		}
		r.CustomerID, r.SKU, r.ChargeType = k.CustomerID, k.SKU, k.ChargeType
		r.PeriodFrom, r.PeriodTo, r.Currency = k.PeriodFrom, k.PeriodTo, k.Currency
		if r.InBase && r.InCurrent &&
			r.PayableQtyBase.Cmp(r.PayableQtyCurrent) == 0 && r.PayableAmountBase.Cmp(r.PayableAmountCurrent) == 0 &&
			r.ReceivableQtyBase.Cmp(r.ReceivableQtyCurrent) == 0 && r.ReceivableAmountBase.Cmp(r.ReceivableAmountCurrent) == 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

// sameSums reports whether two records' four sums are certainly equal in
// value from their int64 form alone (false: unequal, or not decidable
// without decimals).
func sameSums(a, b *lineRec) bool {
	for s := range a.v {
		x, y := a.v[s], b.v[s]
		if !x.fixed || !y.fixed {
			return false
		}
		if n, ok := fixedCmp(x.coef, x.exp, y.coef, y.exp); !ok || n != 0 {
			return false
		}
	}
	return true
}

// BridgeStep is one bucket of the margin bridge: its label (as the comparison
// workbook and the e-mailed summary show it) and its amount in a row.
type BridgeStep struct {
	Label string
	Get   func(*BridgeRow) decimal.Decimal
}

// BridgeSteps are the bridge's buckets in order.
var BridgeSteps = []BridgeStep{
	{"Coverage", func(r *BridgeRow) decimal.Decimal { return r.Coverage }},
	{"New customers", func(r *BridgeRow) decimal.Decimal { return r.NewCustomers }},
	{"Lost customers", func(r *BridgeRow) decimal.Decimal { return r.LostCustomers }},
	{"New products", func(r *BridgeRow) decimal.Decimal { return r.NewProducts }},
	{"Lost products", func(r *BridgeRow) decimal.Decimal { return r.LostProducts }},
	{"Volume", func(r *BridgeRow) decimal.Decimal { return r.Volume }},
	{"Rate", func(r *BridgeRow) decimal.Decimal { return r.Rate }},
	{"Unattributed", func(r *BridgeRow) decimal.Decimal { return r.Unattributed }},
}
