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
}

// licenceCollector gathers, while a run's lines stream into the engine, what
// the licence check and the commitments need: per customer and SKU the
// subscribed and billed seats and the payable unit prices. No subscription
// or line is kept (report.LicenceAccumulator): the Commitments rows are
// computed again from the ledger's subscriptions when they are read
// (commitmentRows), once for the summary and once for the sheet.
type licenceCollector struct {
	sr        SubscriptionReader
	run       ledger.Run
	acc       *report.LicenceAccumulator
	any       bool     // some customer has subscriptions
	customers []string // those taking part, sorted
	attr      *report.Attributor
	prices    *report.UnitPrices
	names     map[string]string
}

// newLicenceCollector returns nil (a no-op collector) when store cannot read
// subscriptions.
func newLicenceCollector(ctx context.Context, store RunReader, run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage) (*licenceCollector, error) {
	sr, ok := store.(SubscriptionReader)
	if !ok {
		return nil, nil
	}
	missing, err := sr.SubscriptionsMissing(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	lc := &licenceCollector{sr: sr, run: run, acc: report.NewLicenceAccumulator(run.Period.To),
		attr: report.NewAttributor(customers), prices: report.NewUnitPrices(), names: map[string]string{}}
	for _, c := range customers {
		lc.names[c.ID] = c.DisplayName
	}
	for _, c := range cov {
		if c.Coverage != billing.CoverageAvailable || missing[c.CustomerID] {
			continue
		}
		subs, err := sr.Subscriptions(ctx, run.ID, c.CustomerID)
		if err != nil {
			return nil, err
		}
		lc.any = lc.any || len(subs) > 0
		lc.acc.AddSubscriptions(c.CustomerID, subs)
		lc.customers = append(lc.customers, c.CustomerID)
	}
	slices.Sort(lc.customers)
	lc.customers = slices.Compact(lc.customers)
	return lc, nil
}

func (lc *licenceCollector) payable(c *billing.PayableCharge) {
	if lc == nil || !lc.any || c.ChargeType != "Recurring" {
		return
	}
	id, _, _ := lc.attr.Attribute(c)
	if id == "" || !lc.acc.Tracks(id, c.SKU) {
		return // only seat subscriptions' keys need a unit price: memory stays with the subscriptions, not the lines
	}
	lc.prices.Add(id, c)
}

func (lc *licenceCollector) receivable(customerID string, c *billing.ReceivableCharge) {
	if lc == nil || !lc.any {
		return
	}
	lc.acc.AddReceivable(customerID, c)
}

// finish adds the licence findings, the commitments and the period's
// amendments log to res.
func (lc *licenceCollector) finish(ctx context.Context, res *report.Result) error {
	if lc == nil {
		return nil
	}
	report.AddLicenceFindings(res, lc.acc.Findings(), lc.names)
	events, err := lc.sr.AmendmentLog(ctx, string(lc.run.Period.From))
	if err != nil {
		return err
	}
	var rows report.CommitmentRows = report.CommitmentSlice(nil)
	if lc.any {
		rows = &commitmentRows{sr: lc.sr, run: lc.run, customers: lc.customers, seats: lc.acc.Seats(), prices: lc.prices}
	}
	com, err := report.Summarize(ctx, rows)
	if err != nil {
		return fmt.Errorf("commitments: %w", err)
	}
	block := &report.SubscriptionsBlock{Commitments: com}
	for _, e := range events {
		block.Amendments = append(block.Amendments, report.AmendmentLogRow{Seq: e.Seq, At: formatTime(e.At), Actor: e.Actor,
			PlanHash: e.PlanHash, CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID, SKU: e.SKU,
			CurrentQuantity: e.CurrentQuantity, NewQuantity: e.NewQuantity, Event: e.Event, AmendmentID: e.AmendmentID,
			Status: e.Status, Detail: e.Detail})
	}
	res.Subscriptions = block
	return nil
}

// commitmentRows streams a run's Commitments rows from the ledger, in the
// report order: customer by customer (sorted by id), each customer's
// subscriptions read again and turned into rows (report.CommitmentRowOf)
// sorted by SKU and subscription id. Only one customer's rows are in memory
// at a time.
type commitmentRows struct {
	sr        SubscriptionReader
	run       ledger.Run
	customers []string
	seats     map[[2]string]*report.SeatCount
	prices    *report.UnitPrices
}

// EachCommitment implements report.CommitmentRows.
func (c *commitmentRows) EachCommitment(ctx context.Context, fn func(*report.CommitmentRow) error) error {
	var rows []report.CommitmentRow
	for _, id := range c.customers {
		subs, err := c.sr.Subscriptions(ctx, c.run.ID, id)
		if err != nil {
			return fmt.Errorf("read subscriptions of customer %s in run %d: %w", id, c.run.ID, err)
		}
		rows = report.AppendCommitmentRows(rows[:0], c.run.Period.To, id, subs, c.seats, c.prices)
		report.SortCommitmentRows(rows)
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
