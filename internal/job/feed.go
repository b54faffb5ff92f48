package job

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// liveFeed reconciles a close while it fetches, instead of reading the run
// back from the ledger afterwards. It is fed only what the ledger commits:
//
//   - the payable charges as they are handed to the payable batch: the batch
//     commits all of them or the run fails (and is never reported); a
//     retried stream (Reset) starts a new engine (no receivable is in it
//     yet: customers are committed after the payable batch);
//   - each customer's coverage and receivable lines (and subscriptions, for
//     the licence check) once its transaction committed
//     (ledger.CustomerWriter.OnCommit): a customer whose transaction failed
//     or was rolled back is never counted.
//
// At the end (result) the coverage it was fed is checked against the
// coverage the ledger recorded; when they differ, or when a customer was
// copied inside the ledger (run --retry-missing), the close falls back to
// reading the run from the ledger (reconcile), so the Result is always the
// ledger's. Either way the Result is built by one function (buildResult).
//
// Its methods are safe for concurrent use.
type liveFeed struct {
	store RunReader
	opts  report.Options

	mu           sync.Mutex
	runID        int64
	customers    []billing.Customer // as the ledger recorded them
	r            *report.Reconciler
	lic          *liveLicence // nil when the store has no subscriptions
	cov          []ledger.CustomerCoverage
	payableLines int64
	period       billing.Period
	payableDone  bool
	broken       string // why the feed cannot be used; "" when it can
}

func newLiveFeed(store RunReader, opts report.Options) *liveFeed {
	return &liveFeed{store: store, opts: opts}
}

// start reads the run's customer list back from the ledger (what the engine
// attributes lines to, as in a report) and starts the engine.
func (f *liveFeed) start(ctx context.Context, runID int64) error {
	if f == nil {
		return nil
	}
	customers, err := f.store.Customers(ctx, runID)
	if err != nil {
		return fmt.Errorf("read customers of run %d: %w", runID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runID, f.customers = runID, customers
	f.newEngine()
	if sr, ok := f.store.(SubscriptionReader); ok {
		f.lic = newLiveLicence(sr, customers)
	}
	return nil
}

func (f *liveFeed) newEngine() {
	f.r = report.NewReconciler(report.Input{RunID: RunID(f.runID), Customers: f.customers, PayableOK: true}, f.opts)
	f.payableLines = 0
}

// resetPayable discards the payable lines fed so far (a retried stream).
func (f *liveFeed) resetPayable() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return
	}
	if len(f.cov) > 0 {
		f.broken = "payable stream reset after customers were committed"
		return
	}
	f.newEngine()
	f.lic.resetPayable()
}

func (f *liveFeed) payable(c *billing.PayableCharge) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return
	}
	f.payableLines++
	f.r.AddPayable(c)
	f.lic.payable(c)
}

// payableStored records the period the payable batch committed.
func (f *liveFeed) payableStored(period billing.Period) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return
	}
	f.period, f.payableDone = period, true
	f.r.SetPeriod(period)
	f.lic.start(period)
}

// committed feeds the customers of one committed transaction.
func (f *liveFeed) committed(ds []*ledger.CustomerData) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return
	}
	for _, d := range ds {
		if !f.payableDone {
			f.broken = "customer committed before the payable charges"
			return
		}
		if d.CopyFrom != 0 {
			f.broken = fmt.Sprintf("customer %s copied from run %d inside the ledger", d.CustomerID, d.CopyFrom)
			return
		}
		f.cov = append(f.cov, ledger.CustomerCoverage{CustomerID: d.CustomerID, Coverage: d.Coverage, Error: d.Error, Period: d.Period})
		f.r.AddCoverage(report.Coverage{CustomerID: d.CustomerID, Status: d.Coverage, Error: d.Error, Period: d.Period})
		if d.Coverage != billing.CoverageAvailable {
			continue // the ledger keeps period_differs lines for audit; a report reads none of them
		}
		for i := range d.Receivables {
			f.r.AddReceivable(d.CustomerID, &d.Receivables[i])
		}
		f.lic.customer(d)
	}
}

// result returns the fed engine and licence collector of run when what was
// fed is what the ledger recorded (customers, coverage, period); otherwise
// nil and why not.
func (f *liveFeed) result(run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage) (*report.Reconciler, *licenceCollector, string) {
	if f == nil {
		return nil, nil, "no live feed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.broken != "":
		return nil, nil, f.broken
	case f.r == nil || f.runID != run.ID:
		return nil, nil, "the feed is of another run"
	case !f.payableDone || !f.period.Equal(run.Period):
		return nil, nil, fmt.Sprintf("fed payable period %s, the ledger's is %s", f.period, run.Period)
	case !slices.EqualFunc(f.customers, customers, sameCustomer):
		return nil, nil, "the customer list differs from the ledger's"
	}
	fed := slices.Clone(f.cov)
	slices.SortFunc(fed, func(a, b ledger.CustomerCoverage) int {
		if a.CustomerID < b.CustomerID {
			return -1
		}
		if a.CustomerID > b.CustomerID {
			return 1
		}
		return 0
	})
	if !slices.EqualFunc(fed, cov, func(a, b ledger.CustomerCoverage) bool {
		return a.CustomerID == b.CustomerID && a.Coverage == b.Coverage && a.Error == b.Error && a.Period.Equal(b.Period)
	}) {
		return nil, nil, fmt.Sprintf("the coverage fed (%d customers) differs from the ledger's (%d)", len(fed), len(cov))
	}
	return f.r, f.lic.collector(run), ""
}

func sameCustomer(a, b billing.Customer) bool {
	return a.ID == b.ID && a.DisplayName == b.DisplayName && a.SuspendedOn == b.SuspendedOn && slices.Equal(a.Path, b.Path)
}

// liveLicence gathers during a close what newLicenceCollector and the
// licence collector's line feed gather from the ledger: the subscriptions
// and receivable seats of the committed customers, and the payable unit
// prices. The payable lines stream before any subscription is known, so the
// unit price of every attributed Recurring (customer, SKU) is kept, in a
// compact form, and only those of the subscriptions' keys are handed to the
// collector (report.UnitPrices) at the end: the same prices the read path
// keeps.
//
// It is the close's hook for the licence check: it sees each payable line
// (payable) and each committed customer (customer). Not safe for
// concurrent use (liveFeed serialises it).
type liveLicence struct {
	sr        SubscriptionReader
	attr      *report.Attributor
	names     map[string]string
	acc       *report.LicenceAccumulator // from the period's end
	any       bool
	customers []string

	ids    map[string]uint32 // interned customer ids, SKUs and currencies
	strs   []string
	prices map[[2]uint32]livePrice // (customer, SKU)
	big    map[[2]uint32]decimal.Decimal
}

// livePrice is a unit price: coef × 10^exp in currency cur, unless big (the
// price is then in liveLicence.big), or several prices.
type livePrice struct {
	coef    int64
	exp     int32
	cur     uint32
	several bool
	big     bool
}

func newLiveLicence(sr SubscriptionReader, customers []billing.Customer) *liveLicence {
	l := &liveLicence{sr: sr, attr: report.NewAttributor(customers), names: map[string]string{}}
	for _, c := range customers {
		l.names[c.ID] = c.DisplayName
	}
	l.resetPayable()
	return l
}

func (l *liveLicence) resetPayable() {
	if l == nil {
		return
	}
	l.ids, l.strs = map[string]uint32{}, nil
	l.prices, l.big = map[[2]uint32]livePrice{}, map[[2]uint32]decimal.Decimal{}
}

func (l *liveLicence) intern(s string) uint32 {
	if id, ok := l.ids[s]; ok {
		return id
	}
	s = strings.Clone(s) // not the decoder's buffer
	id := uint32(len(l.strs))
	l.strs = append(l.strs, s)
	l.ids[s] = id
	return id
}

// payable keeps the unit price of a Recurring line attributed to a customer
// (what report.UnitPrices.Add keeps: one price, or "several").
func (l *liveLicence) payable(c *billing.PayableCharge) {
	if l == nil || c.ChargeType != "Recurring" || !c.NetPrice.Valid {
		return
	}
	id, _, _ := l.attr.Attribute(c)
	if id == "" {
		return
	}
	k := [2]uint32{l.intern(id), l.intern(c.SKU)}
	cur := l.intern(c.Currency)
	d := c.NetPrice.Decimal
	fits := d.NumDigits() <= 18
	p, ok := l.prices[k]
	if !ok {
		p = livePrice{cur: cur, exp: d.Exponent()}
		if fits {
			p.coef = d.CoefficientInt64()
		} else {
			p.big = true
			l.big[k] = d
		}
		l.prices[k] = p
		return
	}
	if p.several {
		return
	}
	old := l.price(k, p)
	switch {
	case p.cur != cur || !old.Equal(d):
		p.several = true
		delete(l.big, k)
		p.big = false
	case d.Exponent() < p.exp: // the same price with more decimals: keep it (as UnitPrices does)
		p.exp = d.Exponent()
		if fits {
			p.coef, p.big = d.CoefficientInt64(), false
			delete(l.big, k)
		} else {
			p.big = true
			l.big[k] = d
		}
	default:
		return
	}
	l.prices[k] = p
}

func (l *liveLicence) price(k [2]uint32, p livePrice) decimal.Decimal {
	if p.big {
		return l.big[k]
	}
	return decimal.New(p.coef, p.exp)
}

// start begins the subscriptions' side, once the period is known.
func (l *liveLicence) start(period billing.Period) {
	if l == nil {
		return
	}
	l.acc = report.NewLicenceAccumulator(period.To)
}

// customer adds one committed customer whose receivables are available:
// its subscriptions (unless their call failed) and its receivable lines.
func (l *liveLicence) customer(d *ledger.CustomerData) {
	if l == nil || l.acc == nil {
		return
	}
	if d.SubscriptionsError == "" {
		l.any = l.any || len(d.Subscriptions) > 0
		l.acc.AddSubscriptions(d.CustomerID, d.Subscriptions)
		l.customers = append(l.customers, d.CustomerID)
	}
	for i := range d.Receivables {
		l.acc.AddReceivable(d.CustomerID, &d.Receivables[i])
	}
}

// collector is the licence collector of run, as newLicenceCollector and the
// line feed of reconcile would have built it from the ledger.
func (l *liveLicence) collector(run ledger.Run) *licenceCollector {
	if l == nil || l.acc == nil {
		return nil
	}
	customers := slices.Clone(l.customers)
	slices.Sort(customers)
	prices := report.NewUnitPrices()
	for k, p := range l.prices {
		id, sku := l.strs[k[0]], l.strs[k[1]]
		if !l.acc.Tracks(id, sku) {
			continue
		}
		c := billing.PayableCharge{ChargeType: "Recurring", SKU: sku, Currency: l.strs[p.cur],
			NetPrice: decimal.NullDecimal{Decimal: l.price(k, p), Valid: true}}
		prices.Add(id, &c)
		if p.several {
			// Several prices: a second, different one marks the key so.
			c.NetPrice.Decimal = c.NetPrice.Decimal.Add(decimal.New(1, 0))
			prices.Add(id, &c)
		}
	}
	return &licenceCollector{sr: l.sr, run: run, acc: l.acc, any: l.any, customers: slices.Compact(customers),
		attr: l.attr, prices: prices, names: l.names}
}
