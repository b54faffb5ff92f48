package ledger

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// twoStores opens the same new ledger twice (two processes, or two
// machines), with a short lease.
func twoStores(t *testing.T, ttl time.Duration) (a, b *Store) {
	t.Helper()
	db := dbtest.DB(t)
	a = mustOpenPath(t, db, Options{LeaseTTL: ttl})
	b = mustOpenPath(t, db, Options{LeaseTTL: ttl})
	return a, b
}

// A run whose process died (its heartbeat stopped) is marked abandoned by
// the next run once its lease expired, and keeps its rows; a live run's
// heartbeat keeps it running however long it takes.
func TestAbandonedRunIsMarkedByTheNextRun(t *testing.T) {
	ctx := context.Background()
	// The lease is short, but long enough that a live heartbeat (every
	// quarter lease, with its retry back-off) is never late on a loaded
	// machine.
	a, b := twoStores(t, 2*time.Second)
	dead := mustBeginRun(t, a)
	storePayablesInto(t, a, dead)
	live := mustBeginRun(t, b)
	a.leases.stopAll() // a's process "dies": no more heartbeats, no FinishRun
	time.Sleep(2500 * time.Millisecond)
	next := mustBeginRun(t, b)
	r, err := b.Run(ctx, dead)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != billing.RunAbandoned || !strings.Contains(r.Error, a.Holder()) || r.FinishedAt.IsZero() {
		t.Fatalf("dead run = %s %q (finished %v), want abandoned naming %s", r.Status, r.Error, r.FinishedAt, a.Holder())
	}
	if n, _, err := b.Counts(ctx, dead); err != nil || n != 3 {
		t.Fatalf("abandoned run keeps %d payable lines (%v), want 3", n, err)
	}
	for _, id := range []int64{live, next} {
		if r, err := b.Run(ctx, id); err != nil || r.Status != billing.RunRunning {
			t.Fatalf("run %d = %s, %v; want running (its heartbeat runs)", id, r.Status, err)
		}
	}
	if err := a.FinishRun(ctx, dead, billing.RunComplete, RunStats{}, "", time.Now()); err == nil {
		t.Fatal("FinishRun of an abandoned run succeeded")
	}
	if _, err := b.FindRun(ctx, "2026-10-15"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindRun = %v, want ErrNotFound (abandoned runs are never picked)", err)
	}
}

func storePayablesInto(t *testing.T, s *Store, id int64) {
	t.Helper()
	b, err := s.NewPayableBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Add(samplePayable(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
}

// Two closes of one period: the second waits for the first, or fails naming
// it; a dead holder's lock is taken over once its lease expires.
func TestPeriodLock(t *testing.T) {
	ctx := context.Background()
	a, b := twoStores(t, 400*time.Millisecond)
	la, err := a.LockPeriod(ctx, "2026-10", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Held (and renewed) beyond its lease: b gives up after its wait.
	start := time.Now()
	_, err = b.LockPeriod(ctx, "2026-10", 700*time.Millisecond)
	if !errors.Is(err, ErrPeriodLocked) || !strings.Contains(err.Error(), a.Holder()) || !strings.Contains(err.Error(), "--lock-wait") {
		t.Fatalf("second LockPeriod = %v, want ErrPeriodLocked naming %s", err, a.Holder())
	}
	if waited := time.Since(start); waited < 700*time.Millisecond {
		t.Fatalf("gave up after %v, want the whole wait", waited)
	}
	// Another period is free.
	lo, err := b.LockPeriod(ctx, "2026-11", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Released while b waits: b gets it.
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = la.Release(ctx)
	}()
	lb, err := b.LockPeriod(ctx, "2026-10", 5*time.Second)
	if err != nil {
		t.Fatalf("LockPeriod after release: %v", err)
	}
	// b dies holding both: after the lease, a takes them over.
	b.leases.stopAll()
	if _, err := a.LockPeriod(ctx, "2026-10", 3*time.Second); err != nil {
		t.Fatalf("take over a dead holder's lock: %v", err)
	}
	_ = lb
	_ = lo
}

// 0003 rebuilds the runs table on SQLite: a ledger written before it keeps
// every run and every row that refers to one, foreign keys intact.
func TestMigration0003KeepsRuns(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	path := dbtest.SQLiteDB(t)
	s := mustOpenPath(t, path, Options{})
	id := storeRun(t, s, 1, nil)
	want := mustDigest(t, s, id)
	// Back to the 0002 layout: the old runs table, 0003 not applied.
	if _, err := s.db.Exec(`PRAGMA foreign_keys = OFF`); err != nil {
		t.Fatal(err)
	}
	s.db.SetMaxOpenConns(1)
	for _, q := range []string{
		`DROP TABLE period_locks`, `ALTER TABLE runs DROP COLUMN holder`, `ALTER TABLE runs DROP COLUMN lease_until`,
		`UPDATE runs SET status = 'running'`, // left running by a kill before the upgrade
		`DELETE FROM schema_migrations WHERE name = '0003_run_leases.sql'`,
	} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	s2 := mustOpenPath(t, path, Options{})
	var bad int
	if err := s2.db.Get(&bad, `SELECT count(*) FROM pragma_foreign_key_check`); err != nil || bad != 0 {
		t.Fatalf("foreign key violations after 0003: %d (%v)", bad, err)
	}
	if got, err := s2.Digest(ctx, id); err != nil || got != want {
		t.Fatalf("digest after 0003 = %s, %v; want %s", got, err, want)
	}
	// The run left running before the upgrade has no lease: the next run
	// marks it abandoned.
	mustBeginRun(t, s2)
	if r, err := s2.Run(ctx, id); err != nil || r.Status != billing.RunAbandoned {
		t.Fatalf("pre-upgrade running run = %s, %v; want abandoned", r.Status, err)
	}
}

// A holder of this host whose process is gone need not wait for its lease:
// a close killed a moment ago is re-run at once.
func TestHolderGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` command")
	}
	dead := fmt.Sprintf("%s pid %d #00000000", hostName(), cmd.Process.Pid)
	for holder, want := range map[string]bool{
		dead:                            true,
		holderName():                    false, // this process
		"elsewhere pid 1 #00000000":     false, // another host: only its lease counts
		"not a holder":                  false,
		hostName() + " pid 1 #00000000": false, // alive (init)
	} {
		if got := holderGone(holder); got != want {
			t.Errorf("holderGone(%q) = %v, want %v", holder, got, want)
		}
	}
	// The lock of a dead local holder is taken over at once, without waiting.
	s := MustOpen(t)
	ctx := context.Background()
	if _, err := s.leaseWrite(ctx, qAcquirePeriodLock, "2026-10", dead, formatTime(time.Now()),
		formatTime(time.Now().Add(time.Hour)), formatTime(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockPeriod(ctx, "2026-10", 0); err != nil {
		t.Fatalf("LockPeriod over a dead holder: %v", err)
	}
}
