package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// ExceptionReader reads the exceptions register. *ledger.Store implements
// it; a RunReader that does not is reported without a register (every
// finding open).
type ExceptionReader interface {
	Exceptions(ctx context.Context) ([]ledger.Exception, error)
}

// Register is what accepting findings needs of the ledger.
type Register interface {
	RunReader
	ExceptionReader
	Runs(ctx context.Context) ([]ledger.Run, error)
	Run(ctx context.Context, id int64) (ledger.Run, error)
	RecordExceptions(ctx context.Context, entries []ledger.Exception) ([]int64, error)
}

var _ Register = (*ledger.Store)(nil)

// DefaultBand is the acceptance band when none is given.
var DefaultBand = decimal.RequireFromString("0.01")

// Acceptances returns the acceptances in force (not revoked) of the register.
func Acceptances(ctx context.Context, reg ExceptionReader) ([]report.Acceptance, error) {
	all, err := reg.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	var out []report.Acceptance
	for _, e := range all {
		if e.Action != ledger.ActionAccept || e.RevokedBy != 0 {
			continue
		}
		out = append(out, report.Acceptance{
			ID: e.ID, Fingerprint: e.Fingerprint, Amount: e.Amount, Band: e.Band, Until: e.Until,
			Reason: e.Reason, By: e.By, At: e.CreatedAt.UTC().Format(time.RFC3339), RunID: e.RunID,
		})
	}
	return out, nil
}

// AcceptRow is one finding to accept.
type AcceptRow struct {
	Fingerprint string
	Reason      string
	Until       string          // YYYY-MM or ""
	Band        decimal.Decimal // zero value: DefaultBand unless BandSet
	BandSet     bool
}

// AcceptOptions configure Accept.
type AcceptOptions struct {
	Rows []AcceptRow
	By   string
	// RunID is the run whose findings are accepted; 0 means the latest
	// complete or partial run.
	RunID     int64
	Reconcile report.Options
	Now       func() time.Time
}

// Accept records acceptances of findings of one run: for each row, the
// fingerprint must be a finding of the run; its group's amount (Σ receivable
// − payable) is recorded with the band and the last period covered. All rows
// or none are recorded.
func Accept(ctx context.Context, reg Register, opts AcceptOptions) ([]int64, ledger.Run, error) {
	if len(opts.Rows) == 0 {
		return nil, ledger.Run{}, errors.New("accept: nothing to accept")
	}
	run, err := acceptRun(ctx, reg, opts.RunID)
	if err != nil {
		return nil, run, err
	}
	rec, err := Reconcile(ctx, reg, run, opts.Reconcile)
	if err != nil {
		return nil, run, err
	}
	type group struct {
		amount decimal.Decimal
		f      *report.Finding
	}
	groups := map[string]*group{}
	for i := range rec.Result.Mismatches {
		f := &rec.Result.Mismatches[i]
		fp := report.Fingerprint(f)
		g, ok := groups[fp]
		if !ok {
			g = &group{f: f}
			groups[fp] = g
		}
		g.amount = g.amount.Add(f.Difference())
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	var entries []ledger.Exception
	var problems []string
	for i, r := range opts.Rows {
		fp := strings.ToLower(strings.TrimSpace(r.Fingerprint))
		g, ok := groups[fp]
		if !ok {
			problems = append(problems, fmt.Sprintf("row %d: fingerprint %q is not a finding of run %d (%s)", i+1, r.Fingerprint, run.ID, run.Period))
			continue
		}
		band := DefaultBand
		if r.BandSet {
			band = r.Band
		}
		if band.IsNegative() {
			problems = append(problems, fmt.Sprintf("row %d: band %s is negative", i+1, billing.Text(band)))
			continue
		}
		if r.Until != "" {
			if _, err := time.Parse("2006-01", r.Until); err != nil {
				problems = append(problems, fmt.Sprintf("row %d: until %q: want YYYY-MM", i+1, r.Until))
				continue
			}
		}
		if strings.TrimSpace(r.Reason) == "" {
			problems = append(problems, fmt.Sprintf("row %d: a reason is required", i+1))
			continue
		}
		entries = append(entries, ledger.Exception{
			Action: ledger.ActionAccept, Fingerprint: fp, Reason: r.Reason, By: opts.By, CreatedAt: now(),
			Amount: g.amount, Currency: g.f.Currency, Band: band, Until: r.Until, RunID: run.ID,
			Kind: g.f.Kind, CustomerID: g.f.CustomerID, SKU: g.f.SKU,
		})
	}
	if len(problems) > 0 {
		return nil, run, fmt.Errorf("accept: nothing recorded: %s", strings.Join(problems, "; "))
	}
	ids, err := reg.RecordExceptions(ctx, entries)
	return ids, run, err
}

func acceptRun(ctx context.Context, reg Register, id int64) (ledger.Run, error) {
	if id != 0 {
		run, err := reg.Run(ctx, id)
		if err != nil {
			return run, fmt.Errorf("accept: run %d: %w", id, err)
		}
		return run, nil
	}
	runs, err := reg.Runs(ctx)
	if err != nil {
		return ledger.Run{}, fmt.Errorf("accept: list runs: %w", err)
	}
	for _, r := range runs { // newest first
		if r.Status.Reportable() {
			return r, nil
		}
	}
	return ledger.Run{}, errors.New("accept: no complete or partial run in the ledger: run 'reconcile run' first")
}

// Unaccept records the revocation of acceptance id.
func Unaccept(ctx context.Context, reg Register, id int64, reason, by string, now time.Time) (int64, error) {
	all, err := reg.Exceptions(ctx)
	if err != nil {
		return 0, err
	}
	fp := ""
	for _, e := range all {
		if e.ID == id {
			fp = e.Fingerprint
		}
	}
	ids, err := reg.RecordExceptions(ctx, []ledger.Exception{{
		Action: ledger.ActionRevoke, Fingerprint: fp, Revokes: id, Reason: reason, By: by, CreatedAt: now,
	}})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}
