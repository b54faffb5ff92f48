package job

import (
	"context"
	"fmt"
	"slices"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// Licences is a run's licence check and commitments
// (docs/subscriptions-and-amendments.md).
type Licences struct {
	Findings    []report.LicenceFinding
	Commitments report.Commitments
	// Rows are the Commitments rows in the report order, in memory.
	Rows []report.CommitmentRow
}

// LicenceReport computes the licence_mismatch findings and the Commitments
// block of a stored run (customers whose subscriptions are missing take no
// part).
func LicenceReport(ctx context.Context, l AmendLedger, run ledger.Run) (Licences, error) {
	in, err := LicenceInput(ctx, l, run)
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	customers, err := l.Customers(ctx, run.ID)
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	attr := report.NewAttributor(customers)
	prices := report.NewUnitPrices()
	err = l.EachPayable(ctx, run.ID, func(c *billing.PayableCharge) error {
		id, _, _ := attr.Attribute(c)
		prices.Add(id, c)
		return nil
	})
	if err != nil {
		return Licences{}, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	com, rows := report.ComputeCommitments(run.Period.To, in, prices)
	return Licences{Findings: report.LicenceCheck(run.Period.To, in), Commitments: com, Rows: rows}, nil
}

// SubscriptionReader is what the report's licence check, Commitments and
// Amendments sheets need of the ledger beyond RunReader. A RunReader that
// does not implement it gets a report without them.
type SubscriptionReader interface {
	Subscriptions(ctx context.Context, runID int64, customerID string) ([]billing.Subscription, error)
	SubscriptionsMissing(ctx context.Context, runID int64) (map[string]bool, error)
	AmendmentLog(ctx context.Context, periodFrom string) ([]ledger.AmendmentEvent, error)
	// EachCustomerSubscriptions reads the run's subscriptions customer by
	// customer in one pass, in customer id order, each customer's as
	// Subscriptions returns them; customers without any are not called.
	EachCustomerSubscriptions(ctx context.Context, runID int64, fn func(customerID string, subs []billing.Subscription) error) error
}

// licenceCollector is the close's licence check and Commitments
// (report.LicenceCollector): the Reconciler hands it what it needs of each
// line (its attribution reused), and each taking-part customer's
// subscriptions are added once (AddCustomer): by the close's live feed as
// each customer commits (fed), else by finish, which reads them from the
// ledger customer by customer. The Commitments rows AddCustomer computes go
// to a spool (spool.go) the Commitments sheet reads; without one (a report
// that does not ask for it, or a spool that failed) the sheet reads the
// subscriptions again (commitmentRows). No subscription is kept in memory.
type licenceCollector struct {
	sr        SubscriptionReader
	run       ledger.Run
	lc        *report.LicenceCollector
	customers []string // those taking part, sorted
	names     map[string]string
	fed       bool             // the customers were added while the close fetched
	spool     *commitmentSpool // nil: the sheet reads the subscriptions again
}

// newLicenceCollector returns nil (a no-op collector) when store cannot read
// subscriptions. When some customer takes part, it makes r collect what the
// check needs of the lines.
func newLicenceCollector(ctx context.Context, store RunReader, run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage, r *report.Reconciler) (*licenceCollector, error) {
	lc, err := licenceOf(ctx, store, run, customers, cov, report.NewLicenceCollector(run.Period.To))
	if lc != nil && len(lc.customers) > 0 {
		r.CollectLicences(lc.lc)
	}
	return lc, err
}

// sameCustomers reports whether the customers the feed added (in commit
// order) are those taking part, each once.
func (lc *licenceCollector) sameCustomers(fed []string) bool {
	if len(fed) != len(lc.customers) {
		return false
	}
	sorted := slices.Clone(fed)
	slices.Sort(sorted)
	return slices.Equal(sorted, lc.customers)
}

// licenceOf is the licence check of run over the line collector col: the
// customers taking part (receivables available, subscriptions not missing)
// and their names. nil when store cannot read subscriptions.
func licenceOf(ctx context.Context, store RunReader, run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage, col *report.LicenceCollector) (*licenceCollector, error) {
	sr, ok := store.(SubscriptionReader)
	if !ok || col == nil {
		return nil, nil
	}
	missing, err := sr.SubscriptionsMissing(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	lc := &licenceCollector{sr: sr, run: run, lc: col, names: make(map[string]string, len(customers))}
	for _, c := range customers {
		if _, ok := lc.names[c.ID]; !ok {
			lc.names[c.ID] = c.DisplayName
		}
	}
	for _, c := range cov {
		if c.Coverage == billing.CoverageAvailable && !missing[c.CustomerID] {
			lc.customers = append(lc.customers, c.CustomerID)
		}
	}
	slices.Sort(lc.customers)
	lc.customers = slices.Compact(lc.customers)
	return lc, nil
}

// finish reads the subscriptions (the one pass; none when the close fed
// them) and adds the licence findings, the commitments and the period's
// amendments log to res.
func (lc *licenceCollector) finish(ctx context.Context, res *report.Result) error {
	if lc == nil {
		return nil
	}
	if !lc.fed { // else the close added them as they committed
		if err := lc.addCustomers(ctx); err != nil {
			return err
		}
	}
	report.AddLicenceFindings(res, lc.lc.Findings(), lc.names)
	events, err := lc.sr.AmendmentLog(ctx, string(lc.run.Period.From))
	if err != nil {
		return err
	}
	var rows report.CommitmentRows = report.CommitmentSlice(nil)
	if lc.lc.Any() {
		if rows = lc.spool.spooledRows(lc.customers); rows == nil {
			lc.spool.close()
			rows = &commitmentRows{sr: lc.sr, run: lc.run, customers: lc.customers, lc: lc.lc}
		}
	} else {
		lc.spool.close()
	}
	block := &report.SubscriptionsBlock{Commitments: lc.lc.Commitments(rows)}
	for _, e := range events {
		block.Amendments = append(block.Amendments, report.AmendmentLogRow{Seq: e.Seq, At: formatTime(e.At), Actor: e.Actor,
			PlanHash: e.PlanHash, CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID, SKU: e.SKU,
			CurrentQuantity: e.CurrentQuantity, NewQuantity: e.NewQuantity, Event: e.Event, AmendmentID: e.AmendmentID,
			Status: e.Status, Detail: e.Detail})
	}
	res.Subscriptions = block
	return nil
}

// addCustomers adds each taking-part customer's subscriptions to the
// collector, in customer id order (none for a customer without any), in
// one read of the run's subscriptions.
func (lc *licenceCollector) addCustomers(ctx context.Context) error {
	add := func(id string, subs []billing.Subscription) { lc.spool.add(id, lc.lc.AddCustomer(id, subs)) }
	next, last, seen := 0, "", false // lc.customers[next] is the next to add
	err := lc.sr.EachCustomerSubscriptions(ctx, lc.run.ID, func(id string, subs []billing.Subscription) error {
		if seen && id <= last {
			return fmt.Errorf("subscriptions of customer %s read after customer %s: not in customer id order", id, last)
		}
		last, seen = id, true
		for ; next < len(lc.customers) && lc.customers[next] < id; next++ {
			add(lc.customers[next], nil) // takes part, has no subscription
		}
		if next < len(lc.customers) && lc.customers[next] == id {
			add(id, subs)
			next++
		}
		return nil // else a customer that takes no part
	})
	if err != nil {
		return fmt.Errorf("read subscriptions of run %d: %w", lc.run.ID, err)
	}
	for ; next < len(lc.customers); next++ {
		add(lc.customers[next], nil)
	}
	return nil
}

// commitmentRows streams a run's Commitments rows from the ledger, in the
// report order: customer by customer (sorted by id), each customer's
// subscriptions read again and turned into rows
// (report.LicenceCollector.CustomerRows). Only one customer's rows are in
// memory at a time.
type commitmentRows struct {
	sr        SubscriptionReader
	run       ledger.Run
	customers []string
	lc        *report.LicenceCollector
}

// EachCommitment implements report.CommitmentRows.
func (c *commitmentRows) EachCommitment(ctx context.Context, fn func(*report.CommitmentRow) error) error {
	var rows []report.CommitmentRow
	for _, id := range c.customers {
		subs, err := c.sr.Subscriptions(ctx, c.run.ID, id)
		if err != nil {
			return fmt.Errorf("read subscriptions of customer %s in run %d: %w", id, c.run.ID, err)
		}
		rows = c.lc.CustomerRows(rows[:0], id, subs)
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
