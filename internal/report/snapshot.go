package report

import (
	"context"
	"fmt"
	"slices"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// A Snapshot is one reconciled run as the comparison (comparison-rules.md)
// needs it: the rules v1 Result plus two line-level aggregates the Result does
// not keep.
//
//   - The bridge lines (BridgeLines): one BridgeLine per (customer id, SKU,
//     currency) over the run's counted lines (attributed payable lines;
//     receivable lines of customers whose receivables are available),
//     whatever their charge type and line period. The margin bridge is
//     computed on these.
//   - The line keys (LineKeyTotals): one LineKeyTotal per rules v1 line key,
//     for the restatement check of two runs of the same period. Only kept
//     when asked for (SnapshotOptions.LineKeys).
//
// Both come from one compact table of the run's line keys (see lineTable):
// W1M has about as many line keys as lines (≈ 1M per run), so a Snapshot
// keeps ≈ 20–30 bytes per key instead of decimal.Decimal structs, and the
// comparison merges two such tables in one sorted pass.
//
// Build one with a SnapshotBuilder (lines fed one at a time, in one pass with
// the engine) or BuildSnapshot (from a Detail, e.g. job.Detail on the ledger).
type Snapshot struct {
	Result Result
	// HasLineKeys is true when the line keys were collected (there may still
	// be none).
	HasLineKeys bool
	lines       lineTable
}

// BridgeLines returns the bridge lines, sorted by customer id, SKU, currency
// (materialised: meant for tests and small runs; Compare streams them).
func (s *Snapshot) BridgeLines() []BridgeLine {
	out := []BridgeLine{}
	it := s.lines.bridge()
	for it.next() {
		out = append(out, it.line())
	}
	return out
}

// LineKeyTotals returns the line key totals sorted by key, or nil unless
// HasLineKeys (materialised, like BridgeLines).
func (s *Snapshot) LineKeyTotals() []LineKeyTotal {
	if !s.HasLineKeys {
		return nil
	}
	out := []LineKeyTotal{}
	c := s.lines.cursor()
	for c.next() {
		out = append(out, c.total())
	}
	return out
}

// BridgeLine is the bridge grain of comparison-rules.md: one customer's
// counted lines of one SKU and currency in one run.
type BridgeLine struct {
	CustomerID string
	SKU        string
	Currency   string
	Payable    decimal.Decimal // P: Σ attributed payable amounts
	Receivable decimal.Decimal // R: Σ receivable amounts (available customers only)
	PayableQty decimal.Decimal // Q: Σ quantities of the attributed payable lines
}

// Margin is M = R − P.
func (b BridgeLine) Margin() decimal.Decimal { return b.Receivable.Sub(b.Payable) }

// LineKeyTotal is the side-by-side aggregate of one rules v1 line key in one
// run: the quantities and amounts the restatement check compares.
//
// Contract reading: the keys are those of the counted lines (receivables only
// for available customers, as in rules v1), plus the unattributed payable
// lines under customer id "" (they take no part in matching, but a restated
// unattributed line changes the totals, and nothing may be lost).
type LineKeyTotal struct {
	CustomerID       string
	SKU              string
	ChargeType       string
	PeriodFrom       billing.Date
	PeriodTo         billing.Date
	Currency         string
	PayableQty       decimal.Decimal
	PayableAmount    decimal.Decimal
	ReceivableQty    decimal.Decimal
	ReceivableAmount decimal.Decimal
}

// SnapshotOptions tune what a SnapshotBuilder keeps.
type SnapshotOptions struct {
	// LineKeys keeps the per line key aggregates needed for restatements.
	// Set it when the two runs compared are of the same period.
	LineKeys bool
}

// SnapshotBuilder reconciles a run and collects its Snapshot in one pass over
// the lines. It keeps nothing beside the engine (Reconciler): the Snapshot's
// line table is made from the engine's line keys at the end. It is not safe
// for concurrent use.
type SnapshotBuilder struct {
	rec  *Reconciler
	opts SnapshotOptions
}

// NewSnapshotBuilder starts a Snapshot of one run: in and opts as for
// NewReconciler.
func NewSnapshotBuilder(in Input, opts Options, sopts SnapshotOptions) *SnapshotBuilder {
	return &SnapshotBuilder{rec: NewReconciler(in, opts), opts: sopts}
}

// AddPayable counts one payable charge line (see Reconciler.AddPayable). It
// does not keep c or anything c points to once it returns (the comparison's
// reader reuses one charge for every line: job.reconcileRows).
func (b *SnapshotBuilder) AddPayable(c *billing.PayableCharge) { b.rec.AddPayable(c) }

// AddReceivable counts one receivable charge line of a customer (see
// Reconciler.AddReceivable: lines of customers whose receivables are not
// available are not counted). Like AddPayable, it does not keep c.
func (b *SnapshotBuilder) AddReceivable(customerID string, c *billing.ReceivableCharge) {
	b.rec.AddReceivable(customerID, c)
}

// Snapshot returns the run's Snapshot and spends the builder: the engine's
// line keys are handed over to the Snapshot's line table (freeing the engine's
// key map as early as possible keeps the peak memory down), so the builder
// must not be used afterwards.
func (b *SnapshotBuilder) Snapshot() Snapshot {
	if b.rec == nil {
		panic("report: SnapshotBuilder.Snapshot called twice")
	}
	res := b.rec.Result()
	t := b.rec.lineTable(b.opts.LineKeys)
	b.rec = nil
	return Snapshot{Result: *res, HasLineKeys: b.opts.LineKeys, lines: t}
}

// Detail streams one run's fetched lines (payable, then receivable) in a
// deterministic order. The ledger implements it for a run (job.Detail).
type Detail interface {
	EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error
	EachReceivable(ctx context.Context, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

// BuildSnapshot reconciles one run streamed from d (payable lines, then
// receivable lines) and returns its Snapshot. The job layer feeds it from the
// ledger with job.Detail{Store, RunID}.
func BuildSnapshot(ctx context.Context, in Input, opts Options, sopts SnapshotOptions, d Detail) (Snapshot, error) {
	b, err := FeedSnapshot(ctx, in, opts, sopts, d)
	if err != nil {
		return Snapshot{}, err
	}
	return b.Snapshot(), nil
}

// FeedSnapshot is BuildSnapshot without the last step: it returns the
// builder with every line of d added, so that the caller can make the
// Snapshot (SnapshotBuilder.Snapshot: the Result, the sort and encoding of
// the line table) where it suits it, e.g. on another goroutine while the
// next run is read.
func FeedSnapshot(ctx context.Context, in Input, opts Options, sopts SnapshotOptions, d Detail) (*SnapshotBuilder, error) {
	b := NewSnapshotBuilder(in, opts, sopts)
	if err := d.EachPayable(ctx, func(c *billing.PayableCharge) error {
		b.AddPayable(c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read payable charges of run %s: %w", in.RunID, err)
	}
	if err := d.EachReceivable(ctx, func(id string, c *billing.ReceivableCharge) error {
		b.AddReceivable(id, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read receivable charges of run %s: %w", in.RunID, err)
	}
	return b, nil
}

// SnapshotOf is the convenience form of SnapshotBuilder, like Reconcile:
// payables in the given order, receivables by customer id in sorted order.
func SnapshotOf(in Input, payables []billing.PayableCharge, receivables map[string][]billing.ReceivableCharge, opts Options, sopts SnapshotOptions) Snapshot {
	b := NewSnapshotBuilder(in, opts, sopts)
	for i := range payables {
		b.AddPayable(&payables[i])
	}
	ids := make([]string, 0, len(receivables))
	for id := range receivables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for i := range receivables[id] {
			b.AddReceivable(id, &receivables[id][i])
		}
	}
	return b.Snapshot()
}
