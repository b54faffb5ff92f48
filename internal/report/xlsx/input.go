package xlsx

import (
	"context"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// RunInfo is the provenance shown on the workbook's Run sheet.
type RunInfo struct {
	RunID       string
	ToolVersion string
	BaseURL     string
	Status      billing.RunStatus // complete, partial, failed
	StartedAt   string            // RFC 3339 UTC
	FinishedAt  string
	Calls       int64
	Retries     int64
	Settings    [][2]string // name, value; rendered in order
}

// Detail streams the fetched lines for the workbook's Payable and Receivable
// sheets, in a deterministic order. The ledger implements it for one run.
// The workbook (and WriteWorkbook's CSV files) read the payable and the
// receivable lines at the same time, on two goroutines: an implementation
// must allow both calls at once, neither waiting for the other to end. The
// workbook keeps no line: fn never keeps the charge it gets after it
// returns, so an implementation may reuse it for the next line.
type Detail interface {
	EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error
	EachReceivable(ctx context.Context, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

// ViewDetail is a Detail that can also lend its lines to a reader that
// keeps nothing of a line once fn returns: not the charge, nor any string,
// slice or pointer it holds (they may be views of a read buffer, refilled
// for a later line). The detail CSV files read their lines so: each field
// is copied into the file's buffer. The ledger implements it
// (ledger.Store.EachPayableView).
type ViewDetail interface {
	Detail
	EachPayableView(ctx context.Context, fn func(*billing.PayableCharge) error) error
	EachReceivableView(ctx context.Context, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

// eachPayableLent reads d's payable lines as views when d lends them,
// else as d's EachPayable hands them out.
func eachPayableLent(ctx context.Context, d Detail, fn func(*billing.PayableCharge) error) error {
	if v, ok := d.(ViewDetail); ok {
		return v.EachPayableView(ctx, fn)
	}
	return d.EachPayable(ctx, fn)
}

// eachReceivableLent is eachPayableLent for the receivable lines.
func eachReceivableLent(ctx context.Context, d Detail, fn func(string, *billing.ReceivableCharge) error) error {
	if v, ok := d.(ViewDetail); ok {
		return v.EachReceivableView(ctx, fn)
	}
	return d.EachReceivable(ctx, fn)
}

// Attributor tells which customer a payable line was attributed to (the
// rules' tag logic), for the Payable detail: the customer id and name, or ""
// and the unattributed reason. report.Attributor implements it; the engine's
// is Reconciler.Attributor.
type Attributor interface {
	Attribute(c *billing.PayableCharge) (customerID, customerName, reason string)
}

// RuleAttributor is an Attributor that also says which rule attributed a
// line; the Payable detail's Attribution column shows the rule when the
// Attributor implements it.
type RuleAttributor interface {
	AttributeRule(c *billing.PayableCharge) (customerID, customerName, rule string)
}
