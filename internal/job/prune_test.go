package job_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

func TestPlanPrune(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	oct := billing.Period{From: "2026-10-01", To: "2026-10-31"}
	sep := billing.Period{From: "2026-09-01", To: "2026-09-30"}
	run := func(id int64, st billing.RunStatus, p billing.Period, started time.Time) ledger.Run {
		return ledger.Run{ID: id, Status: st, Period: p, RequestedDate: "2026-10-01", StartedAt: started}
	}
	old := now.Add(-48 * time.Hour)
	runs := []ledger.Run{
		run(1, billing.RunPartial, oct, old),
		run(2, billing.RunComplete, oct, old),
		run(3, billing.RunComplete, oct, old),
		run(4, billing.RunFailed, billing.Period{}, old),
		run(5, billing.RunComplete, oct, old),
		run(6, billing.RunPartial, sep, old),
		run(7, billing.RunPartial, sep, old),
		run(8, billing.RunRunning, billing.Period{}, old),
		run(9, billing.RunRunning, billing.Period{}, now.Add(-time.Minute)),
	}
	plan := job.PlanPrune(runs, map[int64]string{2: "an exception"}, job.PrunePolicy{Keep: 1, Stale: 24 * time.Hour, Now: now})
	var got []string
	for _, d := range plan {
		got = append(got, fmt.Sprintf("%d:%v", d.Run.ID, d.Delete))
	}
	want := "9:false 8:true 7:false 6:true 5:false 4:true 3:true 2:false 1:true"
	if strings.Join(got, " ") != want {
		t.Errorf("plan %s\nwant %s", strings.Join(got, " "), want)
	}
	// Keep 2 keeps run 3 too; --period limits the candidates.
	plan = job.PlanPrune(runs, nil, job.PrunePolicy{Keep: 2, Period: "2026-09", Stale: 24 * time.Hour, Now: now})
	for _, d := range plan {
		if d.Delete != (d.Run.ID == 6) {
			t.Errorf("--period 2026-09: run %d delete=%v (%s)", d.Run.ID, d.Delete, d.Why)
		}
	}
}
