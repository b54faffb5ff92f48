package job

import (
	"context"
	"fmt"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// Reuse makes a fetch a retry of an incomplete run (run --retry-missing).
// The retry is a new run of its own: it fetches the payable charges and the
// customer list again (two calls: they are what the period is reconciled
// against, and the reused receivables must belong to customers that still
// exist), then, for each customer of the new list, copies inside the ledger
// the stored receivables (and subscriptions) of the base run when the base
// run had them available for the same period, and fetches the others: those
// that failed or whose period differed in the base run, and customers new
// in the list. Each customer is still written in one transaction, copied or
// fetched, so a crash mid-retry leaves whole customers only.
//
// When the payable period differs from the base run's, nothing is reused
// (every customer is fetched).
type Reuse struct {
	Base ledger.Run
	// Available are the customers whose receivables the base run had.
	Available map[string]bool
	// Reused and Fetched count, after the fetch, what the retry did.
	Reused, Fetched int
	enabled         bool
}

// NewReuse reads which customers of base had their receivables available.
func NewReuse(ctx context.Context, store RunReader, base ledger.Run) (*Reuse, error) {
	if !base.Status.Reportable() {
		return nil, fmt.Errorf("run %d is %s: only a complete or partial run can be retried", base.ID, base.Status)
	}
	cov, err := store.Coverage(ctx, base.ID)
	if err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", base.ID, err)
	}
	r := &Reuse{Base: base, Available: map[string]bool{}}
	for _, c := range cov {
		if c.Coverage == billing.CoverageAvailable && c.Period.Equal(base.Period) {
			r.Available[c.CustomerID] = true
		}
	}
	return r, nil
}

// start enables reuse for a fetch whose payable period is period.
func (r *Reuse) start(period billing.Period) {
	r.enabled = period.Equal(r.Base.Period)
}

// reusable reports whether the customer's data is copied from the base run.
func (r *Reuse) reusable(customerID string) bool {
	return r.enabled && r.Available[customerID]
}

// copyOf is the data that makes the writer copy the customer from the base run.
func (r *Reuse) copyOf(customerID string) ledger.CustomerData {
	return ledger.CustomerData{CustomerID: customerID, Coverage: billing.CoverageAvailable, CopyFrom: r.Base.ID}
}

// Setting is the retry's provenance for the Run sheet.
func (r *Reuse) Setting() Setting {
	if !r.enabled {
		return Setting{Name: "retry of run", Value: fmt.Sprintf("%d: nothing reused (the period differs: every customer fetched)", r.Base.ID)}
	}
	return Setting{Name: "retry of run", Value: fmt.Sprintf("%d: receivables reused from run %d for %d customers, fetched for %d", r.Base.ID, r.Base.ID, r.Reused, r.Fetched)}
}
