package job

import (
	"context"
	"fmt"
	"slices"
	"sync"

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
//   - each customer's coverage and receivable lines once its transaction
//     committed (ledger.CustomerWriter.OnCommit): a customer whose
//     transaction failed or was rolled back is never counted; and, right
//     after its lines, its subscriptions (as the ledger reads them back:
//     ledger.SubscriptionsAsRead), for its licence check and Commitments
//     rows (report.LicenceCollector.AddCustomer: it needs the run's payable
//     lines, all fed before any customer commits, and the customer's own
//     receivable lines), the rows going to a spool for the Commitments
//     sheet. So a close reads no subscription back. Once a customer's rows
//     are in the spool, the licence collector's state for its lines is
//     released (report.LicenceCollector.Release): the sheet reads the
//     rows from the spool, and a spool that fails afterwards sends the
//     close to the ledger.
//
// At the end (result) the coverage it was fed is checked against the
// coverage the ledger recorded (and, by reconcileRun, the customers whose
// subscriptions it added against those taking part); when they differ, or
// when a customer was copied inside the ledger (run --retry-missing), the
// close falls back to reading the run from the ledger (reconcile), so the
// Result is always the ledger's. Either way the Result is built by one function (buildResult).
//
// Its methods are safe for concurrent use.
type liveFeed struct {
	store RunReader
	opts  report.Options

	mu           sync.Mutex
	runID        int64
	customers    []billing.Customer // as the ledger recorded them
	r            *report.Reconciler
	lic          *report.LicenceCollector // nil when the store has no subscriptions
	licCustomers []string                 // the customers added to lic, in commit order
	spool        *commitmentSpool         // their Commitments rows
	released     bool                     // some customer's licence state was released (its rows are only in the spool)
	subs         []billing.Subscription   // scratch of committed
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
	return nil
}

// newEngine starts the engine and, when the store keeps subscriptions, the
// licence collector it hands each line to (report.LicenceCollector; which
// customers take part is known at the end, from the ledger: licenceOf).
func (f *liveFeed) newEngine() {
	f.r = report.NewReconciler(report.Input{RunID: RunID(f.runID), Customers: f.customers, PayableOK: true}, f.opts)
	f.payableLines = 0
	f.lic, f.licCustomers, f.released = nil, nil, false
	f.spool.close()
	f.spool = nil
	if _, ok := f.store.(SubscriptionReader); ok {
		f.lic = report.NewLicenceCollector("")
		f.r.CollectLicences(f.lic)
	}
}

// feeding locks f and reports whether it has an engine to feed; when it
// reports true the caller unlocks f.mu.
func (f *liveFeed) feeding() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	if f.r == nil {
		f.mu.Unlock()
		return false
	}
	return true
}

// attributor is the attribution of the engine f feeds (nil when none): the
// Reconciliation's Attributor when the close uses the feed.
func (f *liveFeed) attributor() *report.Attributor {
	if !f.feeding() {
		return nil
	}
	defer f.mu.Unlock()
	return f.r.Attributor()
}

// resetPayable discards the payable lines fed so far (a retried stream).
func (f *liveFeed) resetPayable() {
	if !f.feeding() {
		return
	}
	defer f.mu.Unlock()
	if len(f.cov) > 0 {
		f.broken = "payable stream reset after customers were committed"
		return
	}
	f.newEngine()
}

func (f *liveFeed) payable(c *billing.PayableCharge) {
	if !f.feeding() {
		return
	}
	defer f.mu.Unlock()
	f.payableLines++
	f.r.AddPayable(c)
}

// payableStored records the period the payable batch committed.
func (f *liveFeed) payableStored(period billing.Period) {
	if !f.feeding() {
		return
	}
	defer f.mu.Unlock()
	f.period, f.payableDone = period, true
	f.r.SetPeriod(period)
	if f.lic != nil {
		f.lic.SetPeriodEnd(period.To)
	}
}

// committed feeds the customers of one committed transaction.
func (f *liveFeed) committed(ds []*ledger.CustomerData) {
	if !f.feeding() {
		return
	}
	defer f.mu.Unlock()
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
		if f.lic != nil && d.SubscriptionsError == "" {
			if f.spool == nil {
				f.spool = newCommitmentSpool()
			}
			f.subs = ledger.SubscriptionsAsRead(f.subs, d.CustomerID, d.Subscriptions)
			f.spool.add(d.CustomerID, f.lic.AddCustomer(d.CustomerID, f.subs))
			clear(f.subs) // keep no subscription's strings
			f.licCustomers = append(f.licCustomers, d.CustomerID)
			if f.spool.err == nil {
				// Its Commitments rows are spooled: the sheet will not
				// ask the collector for them again, so what it keeps of
				// the customer's lines can go now rather than at the end.
				f.lic.Release(d.CustomerID)
				f.released = true
			}
		}
	}
}

// fedLicences is what the feed added to its licence collector: the
// customers (in commit order) and the spool of their Commitments rows.
type fedLicences struct {
	lc        *report.LicenceCollector // nil when the store keeps no subscriptions
	customers []string
	spool     *commitmentSpool
}

// result returns the fed engine and its licence check when what was fed is
// what the ledger recorded (customers, coverage, period); otherwise nil and
// why not.
func (f *liveFeed) result(run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage) (*report.Reconciler, fedLicences, string) {
	if f == nil {
		return nil, fedLicences{}, "no live feed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.broken != "":
		return nil, fedLicences{}, f.broken
	case f.r == nil || f.runID != run.ID:
		return nil, fedLicences{}, "the feed is of another run"
	case !f.payableDone || !f.period.Equal(run.Period):
		return nil, fedLicences{}, fmt.Sprintf("fed payable period %s, the ledger's is %s", f.period, run.Period)
	case !slices.EqualFunc(f.customers, customers, sameCustomer):
		return nil, fedLicences{}, "the customer list differs from the ledger's"
	case f.released && !f.spool.usable():
		// The collector no longer has what the sheet would need to
		// compute the rows again.
		return nil, fedLicences{}, "the Commitments spool failed after customers were released from the licence check"
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
		return nil, fedLicences{}, fmt.Sprintf("the coverage fed (%d customers) differs from the ledger's (%d)", len(fed), len(cov))
	}
	return f.r, fedLicences{lc: f.lic, customers: f.licCustomers, spool: f.spool}, ""
}

// release closes the spool of a feed that is not used.
func (f *liveFeed) release() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spool.close()
	f.spool = nil
}

func sameCustomer(a, b billing.Customer) bool {
	return a.ID == b.ID && a.DisplayName == b.DisplayName && a.SuspendedOn == b.SuspendedOn && slices.Equal(a.Path, b.Path)
}
