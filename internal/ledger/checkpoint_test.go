package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// copyMainFile copies the SQLite ledger's database file alone (not its WAL
// or shared-memory file) to a new folder and opens the copy: it holds only
// what was checkpointed into the database file.
func copyMainFile(t *testing.T, s *Store) *Store {
	t.Helper()
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return mustOpenPath(t, p, Options{})
}

// After a run's final status is committed, its rows reach the database file
// in the background (checkpointAhead), while the store stays readable; Close
// waits for that checkpoint.
func TestCheckpointAheadAfterFinishRun(t *testing.T) {
	if dbtest.Backend() != dbtest.SQLite {
		t.Skip("SQLite's WAL")
	}
	s := MustOpen(t)
	ctx := context.Background()
	id := mustPayableRun(t, s, 200, nil)
	// The committed lines are in the WAL only (too few pages for an
	// automatic checkpoint): the database file alone has no such run.
	before := copyMainFile(t, s)
	if _, err := before.Run(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the database file alone, before FinishRun: run %d: %v, want not found (the test cannot tell a checkpoint)", id, err)
	}

	if err := s.FinishRun(ctx, id, billing.RunComplete, RunStats{}, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	// No reader meanwhile: a PASSIVE checkpoint does not copy the frames a
	// reader may still need, so with one it can stop short and leave the rest
	// to a later checkpoint (1 to 2 % of the test's runs did when it read
	// meanwhile, and the database file alone then read as "malformed"; the
	// ledger with its WAL is whole either way). Readers during a checkpoint:
	// below.
	s.ahead.wait()
	if s.ahead.err != nil {
		t.Fatalf("background checkpoint: %v", s.ahead.err)
	}
	after := copyMainFile(t, s)
	run, err := after.Run(ctx, id)
	if err != nil || run.Status != billing.RunComplete {
		t.Fatalf("the database file alone after FinishRun: run %d = %+v, %v; want complete", id, run, err)
	}
	if n, _, err := after.Counts(ctx, id); err != nil || n != 200 {
		t.Fatalf("the database file alone after FinishRun: %d payable lines (%v), want 200", n, err)
	}
	if d1, d2 := mustDigest(t, s, id), mustDigest(t, after, id); d1 != d2 {
		t.Fatalf("digest of the database file alone = %s, want %s", d2, d1)
	}

	// Readers are served while the checkpoint runs.
	id2 := mustPayableRun(t, s, 200, nil)
	if err := s.FinishRun(ctx, id2, billing.RunComplete, RunStats{}, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := readPayables(t, s, id2); len(got) != 200 {
		t.Fatalf("read %d lines during the checkpoint, want 200", len(got))
	}
	s.ahead.wait()
	if s.ahead.err != nil {
		t.Fatalf("background checkpoint beside a reader: %v", s.ahead.err)
	}

	// Close waits for a checkpoint in flight (run under -race).
	s.checkpointAhead()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.ahead.running {
		t.Fatal("Close returned while the background checkpoint ran")
	}
}
