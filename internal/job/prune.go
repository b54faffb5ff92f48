package job

import (
	"fmt"
	"sort"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// PrunePolicy says which runs `reconcile runs prune` keeps.
type PrunePolicy struct {
	Keep   int           // complete runs kept per period, the latest ones (at least 1)
	Period string        // "YYYY-MM": only runs of this period are candidates; "" for all
	Stale  time.Duration // a run "running" for longer than this was killed
	Now    time.Time
}

// PruneDecision is what happens to one run, and why.
type PruneDecision struct {
	Run    ledger.Run
	Delete bool
	Why    string
}

// PeriodKey is the month a run belongs to: its period's, or for a run that
// never learned its period (failed early), its requested date's.
func PeriodKey(r ledger.Run) string {
	d := string(r.Period.From)
	if d == "" {
		d = string(r.RequestedDate)
	}
	if len(d) >= 7 {
		return d[:7]
	}
	return d
}

// PlanPrune decides, for every run (newest first), whether pruning deletes
// it. Per period it keeps the latest Keep complete runs; a period without a
// complete run keeps its latest partial run (the one reports use). It
// deletes: older complete runs, partial runs of a period that has a complete
// run (or an older partial one), failed runs, and runs still "running"
// after Stale (killed). It never deletes a run that refs names (an
// exception, amendment or comparison refers to it) nor a run that may still
// be running.
func PlanPrune(runs []ledger.Run, refs map[int64]string, p PrunePolicy) []PruneDecision {
	if p.Keep < 1 {
		p.Keep = 1
	}
	runs = append([]ledger.Run(nil), runs...)
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
	completes := map[string]int{} // complete runs seen so far per period (newest first)
	partialKept := map[string]bool{}
	for _, r := range runs {
		if r.Status == billing.RunComplete {
			completes[PeriodKey(r)]++
		}
	}
	seen := map[string]int{}
	out := make([]PruneDecision, 0, len(runs))
	for _, r := range runs {
		key := PeriodKey(r)
		d := PruneDecision{Run: r}
		switch {
		case p.Period != "" && key != p.Period:
			d.Why = "other period"
		case refs[r.ID] != "":
			d.Why = refs[r.ID] + " refers to it"
		case r.Status == billing.RunComplete:
			seen[key]++
			if seen[key] <= p.Keep {
				d.Why = fmt.Sprintf("latest complete run %d of %d kept", seen[key], p.Keep)
			} else {
				d.Delete, d.Why = true, "a newer complete run exists"
			}
		case r.Status == billing.RunPartial:
			switch {
			case completes[key] > 0:
				d.Delete, d.Why = true, "the period has a complete run"
			case partialKept[key]:
				d.Delete, d.Why = true, "a newer partial run exists"
			default:
				partialKept[key] = true
				d.Why = "latest partial run (the period has no complete run)"
			}
		case r.Status == billing.RunFailed:
			d.Delete, d.Why = true, "failed"
		case r.Status == billing.RunAbandoned:
			d.Delete, d.Why = true, "abandoned (its process died)"
		case r.Status == billing.RunRunning:
			if !p.Now.IsZero() && p.Stale > 0 && p.Now.Sub(r.StartedAt) > p.Stale {
				d.Delete, d.Why = true, fmt.Sprintf("running since %s: killed", r.StartedAt.UTC().Format(time.RFC3339))
			} else {
				d.Why = "may still be running"
			}
		default:
			d.Why = "unknown status"
		}
		out = append(out, d)
	}
	return out
}
