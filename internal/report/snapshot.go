package report

import (
	"cmp"
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
//   - Bridge: one BridgeLine per (customer id, SKU, currency) over the run's
//     counted lines (attributed payable lines; receivable lines of customers
//     whose receivables are available), whatever their charge type and line
//     period. The margin bridge is computed on these.
//   - LineKeys: one LineKeyTotal per rules v1 line key, for the restatement
//     check of two runs of the same period. Only kept when asked for
//     (SnapshotOptions.LineKeys), since a run has about as many keys as lines.
//
// Build one with a SnapshotBuilder (lines fed one at a time, in one pass with
// the engine) or BuildSnapshot (from a Detail, e.g. job.Detail on the ledger).
type Snapshot struct {
	Result   Result
	Bridge   []BridgeLine   // sorted by customer id, SKU, currency
	LineKeys []LineKeyTotal // sorted by key; nil unless HasLineKeys
	// HasLineKeys is true when LineKeys was collected (it may still be empty).
	HasLineKeys bool
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

type bridgeKey struct {
	customer      int32
	sku, currency string
}

type bridgeAgg struct {
	pay, rec, qty decimal.Decimal
	hasPay        bool
}

type restateKey struct {
	customer                        int32 // -1: unattributed
	sku, chargeType, from, to, curr string
}

type restateAgg struct {
	payQty, pay, recQty, rec decimal.Decimal
	hasPay, hasRec           bool
}

// SnapshotBuilder reconciles a run and collects its Snapshot in one pass over
// the lines. It is not safe for concurrent use.
type SnapshotBuilder struct {
	rec    *Reconciler
	attr   *Attributor
	opts   SnapshotOptions
	bridge map[bridgeKey]*bridgeAgg
	keys   map[restateKey]*restateAgg
}

// NewSnapshotBuilder starts a Snapshot of one run: in and opts as for
// NewReconciler.
func NewSnapshotBuilder(in Input, opts Options, sopts SnapshotOptions) *SnapshotBuilder {
	b := &SnapshotBuilder{
		rec:    NewReconciler(in, opts),
		attr:   NewAttributor(in.Customers),
		opts:   sopts,
		bridge: map[bridgeKey]*bridgeAgg{},
	}
	// The same rule 0 (mapping, internal use) as the reconciler's: the
	// bridge lines must be the lines of the customer rows.
	b.attr.setRules(opts.Mapping, opts.Internal)
	if sopts.LineKeys {
		b.keys = map[restateKey]*restateAgg{}
	}
	return b
}

func (b *SnapshotBuilder) bridgeAt(k bridgeKey) *bridgeAgg {
	a, ok := b.bridge[k]
	if !ok {
		a = &bridgeAgg{pay: decimal.Zero, rec: decimal.Zero, qty: decimal.Zero}
		b.bridge[k] = a
	}
	return a
}

func (b *SnapshotBuilder) keyAt(k restateKey) *restateAgg {
	a, ok := b.keys[k]
	if !ok {
		a = &restateAgg{payQty: decimal.Zero, pay: decimal.Zero, recQty: decimal.Zero, rec: decimal.Zero}
		b.keys[k] = a
	}
	return a
}

// AddPayable counts one payable charge line (see Reconciler.AddPayable).
func (b *SnapshotBuilder) AddPayable(c *billing.PayableCharge) {
	b.rec.AddPayable(c)
	x, _, _ := b.attr.attributeRule(c) // internal use (x < 0) is in no customer row
	cur := NormalizeCurrency(c.Currency)
	amt, qty := c.Amount(), c.Quantity.Decimal
	if x >= 0 {
		a := b.bridgeAt(bridgeKey{x, c.SKU, cur})
		a.pay, a.qty, a.hasPay = a.pay.Add(amt), a.qty.Add(qty), true
	}
	if b.keys != nil {
		k := b.keyAt(restateKey{x, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), cur})
		k.payQty, k.pay, k.hasPay = k.payQty.Add(qty), k.pay.Add(amt), true
	}
}

// AddReceivable counts one receivable charge line of a customer (see
// Reconciler.AddReceivable). Lines of customers whose receivables turn out
// not to be available are dropped when the Snapshot is made.
func (b *SnapshotBuilder) AddReceivable(customerID string, c *billing.ReceivableCharge) {
	b.rec.AddReceivable(customerID, c)
	x := b.attr.canonical(customerID)
	if x < 0 {
		return
	}
	cur := NormalizeCurrency(c.Currency)
	amt := c.Amount()
	a := b.bridgeAt(bridgeKey{x, c.SKU, cur})
	a.rec = a.rec.Add(amt)
	if b.keys != nil {
		k := b.keyAt(restateKey{x, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), cur})
		k.recQty, k.rec, k.hasRec = k.recQty.Add(c.Quantity.Decimal), k.rec.Add(amt), true
	}
}

// Snapshot returns the run's Snapshot. It does not change the builder.
func (b *SnapshotBuilder) Snapshot() Snapshot {
	res := b.rec.Result()
	missing := map[string]bool{}
	for _, m := range res.Coverage.Missing {
		missing[m.CustomerID] = true
	}
	s := Snapshot{Result: *res, Bridge: []BridgeLine{}, HasLineKeys: b.keys != nil}
	for k, a := range b.bridge {
		id := b.attr.ids[k.customer]
		rec := a.rec
		if missing[id] {
			if !a.hasPay {
				continue // receivable lines only, none of them counted
			}
			rec = decimal.Zero
		}
		s.Bridge = append(s.Bridge, BridgeLine{CustomerID: id, SKU: k.sku, Currency: k.currency,
			Payable: a.pay, Receivable: rec, PayableQty: a.qty})
	}
	slices.SortFunc(s.Bridge, func(a, b BridgeLine) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Currency, b.Currency))
	})
	if b.keys != nil {
		s.LineKeys = []LineKeyTotal{}
		for k, a := range b.keys {
			id := ""
			if k.customer >= 0 {
				id = b.attr.ids[k.customer]
			}
			recQty, rec := a.recQty, a.rec
			if k.customer >= 0 && missing[id] {
				if !a.hasPay {
					continue
				}
				recQty, rec = decimal.Zero, decimal.Zero
			}
			s.LineKeys = append(s.LineKeys, LineKeyTotal{CustomerID: id, SKU: k.sku, ChargeType: k.chargeType,
				PeriodFrom: billing.Date(k.from), PeriodTo: billing.Date(k.to), Currency: k.curr,
				PayableQty: a.payQty, PayableAmount: a.pay, ReceivableQty: recQty, ReceivableAmount: rec})
		}
		slices.SortFunc(s.LineKeys, compareLineKeyTotals)
	}
	return s
}

func compareLineKeyTotals(a, b LineKeyTotal) int {
	return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.SKU, b.SKU),
		cmp.Compare(a.ChargeType, b.ChargeType), cmp.Compare(a.PeriodFrom, b.PeriodFrom),
		cmp.Compare(a.PeriodTo, b.PeriodTo), cmp.Compare(a.Currency, b.Currency))
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
	b := NewSnapshotBuilder(in, opts, sopts)
	if err := d.EachPayable(ctx, func(c *billing.PayableCharge) error {
		b.AddPayable(c)
		return nil
	}); err != nil {
		return Snapshot{}, fmt.Errorf("read payable charges of run %s: %w", in.RunID, err)
	}
	if err := d.EachReceivable(ctx, func(id string, c *billing.ReceivableCharge) error {
		b.AddReceivable(id, c)
		return nil
	}); err != nil {
		return Snapshot{}, fmt.Errorf("read receivable charges of run %s: %w", in.RunID, err)
	}
	return b.Snapshot(), nil
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
