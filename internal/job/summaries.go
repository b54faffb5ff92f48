package job

import (
	"context"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// SummaryStore keeps the per-run summaries `reconcile runs` shows.
// *ledger.Store implements it.
type SummaryStore interface {
	PutRunSummary(ctx context.Context, sum ledger.RunSummary, now time.Time) error
	RunSummaries(ctx context.Context) (map[int64]ledger.RunSummary, error)
}

var _ SummaryStore = (*ledger.Store)(nil)

// SummaryOf is the stored summary of a reconciliation: findings count and
// totals per currency (exact texts).
func SummaryOf(runID int64, res *report.Result) ledger.RunSummary {
	sum := ledger.RunSummary{RunID: runID, Tolerance: billing.Text(res.Tolerance), Findings: len(res.Mismatches)}
	for _, t := range res.Totals {
		sum.Totals = append(sum.Totals, ledger.SummaryTotal{
			Currency: t.Currency, Payable: billing.Text(t.Payable),
			Receivable: billing.Text(t.Receivable), Margin: billing.Text(t.Margin),
		})
	}
	return sum
}

// storeSummary stores the reconciliation's summary when the ledger can
// (a read-only ledger cannot: `runs` computes it later). It is derived
// data: a failure is logged, never fatal.
func storeSummary(ctx context.Context, store RunReader, rec *Reconciliation, opts ReportOptions) {
	s, ok := store.(SummaryStore)
	if !ok {
		return
	}
	if err := s.PutRunSummary(ctx, SummaryOf(rec.Run.ID, rec.Result), time.Now()); err != nil && opts.Logger != nil {
		opts.Logger.Debug("run summary not stored", "run", rec.Run.ID, "error", err)
	}
}

// FillSummaries computes and stores the summary of every complete run that
// has none (runs of older versions, or reported only from a read-only
// ledger), with opts, and returns all summaries by run id.
func FillSummaries(ctx context.Context, store interface {
	RunReader
	SummaryStore
}, runs []ledger.Run, opts report.Options) (map[int64]ledger.RunSummary, error) {
	sums, err := store.RunSummaries(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.Status != billing.RunComplete {
			continue
		}
		if _, ok := sums[r.ID]; ok {
			continue
		}
		rec, err := Reconcile(ctx, store, r, opts)
		if err != nil {
			return nil, err
		}
		sum := SummaryOf(r.ID, rec.Result)
		sums[r.ID] = sum
		_ = store.PutRunSummary(ctx, sum, time.Now()) // derived: recomputed next time if this fails
	}
	return sums, nil
}
