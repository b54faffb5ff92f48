package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestBeginAndFinishRun(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	started := time.Date(2026, 10, 3, 8, 0, 0, 123456789, time.FixedZone("EST", -5*3600))
	id, err := s.BeginRun(ctx, Run{
		RequestedDate: "2026-10-15", Status: billing.RunComplete, StartedAt: started, BaseURL: "https://api.example/",
		ToolVersion: "v1.2.3", Settings: `{"concurrency":"4","tolerance":"0.01"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := Run{
		ID: id, RequestedDate: "2026-10-15", Status: billing.RunRunning, StartedAt: started.UTC(),
		BaseURL: "https://api.example/", ToolVersion: "v1.2.3", Settings: `{"concurrency":"4","tolerance":"0.01"}`,
	}
	if got != want {
		t.Fatalf("Run after BeginRun =\n%+v\nwant\n%+v", got, want)
	}
	if got.StartedAt.Location() != time.UTC {
		t.Errorf("StartedAt location = %v, want UTC", got.StartedAt.Location())
	}

	finished := started.Add(90 * time.Second)
	if err := s.FinishRun(ctx, id, billing.RunPartial, RunStats{Calls: 12, Retries: 3, TokenRequests: 1}, "2 customers missing", finished); err != nil {
		t.Fatal(err)
	}
	got, err = s.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want.Status, want.FinishedAt, want.Calls, want.Retries, want.TokenRequests, want.Error =
		billing.RunPartial, finished.UTC(), 12, 3, 1, "2 customers missing"
	if got != want {
		t.Fatalf("Run after FinishRun =\n%+v\nwant\n%+v", got, want)
	}
	// The connection that wrote the final status went back to NORMAL.
	var sync int
	if s.Backend() != "sqlite" {
		sync = 1 // PostgreSQL: no PRAGMA (sync_full sets synchronous_commit)
	} else if err := s.db.Get(&sync, "PRAGMA synchronous"); err != nil || sync != 1 {
		t.Errorf("PRAGMA synchronous after FinishRun = %d (%v), want 1 (NORMAL)", sync, err)
	}

	if err := s.FinishRun(ctx, id, billing.RunComplete, RunStats{}, "", finished); err == nil || !strings.Contains(err.Error(), "already partial") {
		t.Errorf("second FinishRun = %v, want 'already partial'", err)
	}
	if err := s.FinishRun(ctx, id, billing.RunRunning, RunStats{}, "", finished); err == nil {
		t.Error("FinishRun with status running succeeded")
	}
	if err := s.FinishRun(ctx, 4242, billing.RunFailed, RunStats{}, "", finished); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishRun of a missing run = %v, want ErrNotFound", err)
	}
	if _, err := s.Run(ctx, 4242); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(missing) = %v, want ErrNotFound", err)
	}
}

func TestBeginRunValidates(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	for _, r := range []Run{
		{RequestedDate: ""},
		{RequestedDate: "2026-10"},
		{RequestedDate: "2026-10-15T00:00:00Z"},
		{RequestedDate: "2026-10-15", Settings: "{not json"},
	} {
		if _, err := s.BeginRun(ctx, r); err == nil {
			t.Errorf("BeginRun(%+v) succeeded", r)
		}
	}
	id, err := s.BeginRun(ctx, Run{RequestedDate: "2026-10-15"})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Run(ctx, id); r.Settings != "{}" {
		t.Errorf("default settings = %q, want {}", r.Settings)
	}
}

func TestRunsNewestFirst(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 3; i++ {
		ids = append(ids, mustBeginRun(t, s))
	}
	runs, err := s.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].ID != ids[2] || runs[1].ID != ids[1] || runs[2].ID != ids[0] {
		t.Fatalf("Runs = %+v, want ids %v newest first", runs, ids)
	}
}

func TestFindRun(t *testing.T) {
	ctx := context.Background()
	// newRun makes a run with the given final status (or running) over period p.
	newRun := func(t *testing.T, s *Store, p billing.Period, status billing.RunStatus) int64 {
		t.Helper()
		id := mustBeginRun(t, s)
		if p != (billing.Period{}) {
			b, err := s.NewPayableBatch(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(p); err != nil {
				t.Fatal(err)
			}
		}
		if status != billing.RunRunning {
			if err := s.FinishRun(ctx, id, status, RunStats{}, "", t0); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	september := billing.Period{From: "2026-09-01", To: "2026-09-30"}

	s := MustOpen(t)
	partial1 := newRun(t, s, october, billing.RunPartial)
	complete1 := newRun(t, s, october, billing.RunComplete)
	partial2 := newRun(t, s, october, billing.RunPartial) // newer, but partial
	newRun(t, s, october, billing.RunFailed)
	newRun(t, s, october, billing.RunRunning)
	newRun(t, s, billing.Period{}, billing.RunFailed) // failed before the period was known
	sepPartial := newRun(t, s, september, billing.RunPartial)
	newRun(t, s, september, billing.RunFailed)

	tests := []struct {
		date billing.Date
		want int64
	}{
		{"2026-10-01", complete1},
		{"2026-10-15", complete1},
		{"2026-10-31", complete1},
		{"2026-09-30", sepPartial}, // no complete run: the latest partial
		{"2026-11-01", 0},
		{"2026-08-31", 0},
	}
	for _, tt := range tests {
		got, err := s.FindRun(ctx, tt.date)
		if tt.want == 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("FindRun(%s) = %+v, %v; want ErrNotFound", tt.date, got, err)
			}
			continue
		}
		if err != nil || got.ID != tt.want {
			t.Errorf("FindRun(%s) = run %d, %v; want run %d", tt.date, got.ID, err, tt.want)
		}
	}
	_ = partial1

	// Only partial runs: the latest one.
	s2 := MustOpen(t)
	newRun(t, s2, october, billing.RunPartial)
	latest := newRun(t, s2, october, billing.RunPartial)
	newRun(t, s2, october, billing.RunFailed)
	if got, err := s2.FindRun(ctx, "2026-10-10"); err != nil || got.ID != latest {
		t.Errorf("FindRun among partial runs = %d, %v; want %d", got.ID, err, latest)
	}
	_ = partial2

	if _, err := s.FindRun(ctx, "10/15/2026"); err == nil {
		t.Error("FindRun with an invalid date succeeded")
	}
}
