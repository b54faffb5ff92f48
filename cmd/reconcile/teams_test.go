package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// closeProcess starts `reconcile run` as a separate process (another
// person's machine) against the simulator at url.
func closeProcess(t *testing.T, url, db, dir string, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args := append([]string{"run", "--period", "2026-10", "--db", db,
		"--out", filepath.Join(dir, "close.xlsx"), "--json", filepath.Join(dir, "close.json")}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), testMainEnv+"=1", "SHERWEB_BASE_URL="+url, "SHERWEB_CLIENT_ID=sim-client",
		"SHERWEB_CLIENT_SECRET=sim-secret", "SHERWEB_SUBSCRIPTION_KEY=sim-key", "RECONCILE_DB=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

// Two closes of one period at the same moment, from two processes on one
// ledger: without --lock-wait the second fails at once naming the holder;
// with it, the second waits, and both runs are complete with the same
// digest (neither corrupted the other).
func TestConcurrentClose(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	sim := sherwebsim.New(sherwebsim.Config{Seed: 5, Customers: 20, Charges: 800})
	sim.SetFaults(sherwebsim.Faults{Latency: 20 * time.Millisecond})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	db := dbtest.DB(t)

	for _, tc := range []struct {
		name     string
		lockWait string
	}{{"no wait", "0s"}, {"wait", "2m"}} {
		t.Run(tc.name, func(t *testing.T) {
			sim.SetFaults(sherwebsim.Faults{Latency: 20 * time.Millisecond})
			// One call in flight: the first close's fan-out takes 40 calls of
			// 20 ms, so it still holds the period's lock when the second starts.
			a, aErr := closeProcess(t, srv.URL, db, t.TempDir(), "--lock-wait", tc.lockWait, "--concurrency", "1")
			time.Sleep(400 * time.Millisecond) // a holds the period's lock by now
			b, bErr := closeProcess(t, srv.URL, db, t.TempDir(), "--lock-wait", tc.lockWait)
			errA, errB := a.Wait(), b.Wait()
			if errA != nil {
				t.Fatalf("first close: %v\n%s", errA, aErr)
			}
			if tc.lockWait == "0s" {
				if b.ProcessState.ExitCode() != exitFailure || !strings.Contains(bErr.String(), "is being closed by") ||
					!strings.Contains(bErr.String(), "--lock-wait") {
					t.Fatalf("second close without --lock-wait: exit %d\n%s", b.ProcessState.ExitCode(), bErr)
				}
				return
			}
			if errB != nil {
				t.Fatalf("second close with --lock-wait: %v\n%s", errB, bErr)
			}
		})
	}
	store, err := ledger.Open(context.Background(), db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, err := store.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3 (the refused close made none)", len(runs))
	}
	var digests []string
	for _, r := range runs {
		if r.Status != billing.RunComplete {
			t.Fatalf("run %d is %s", r.ID, r.Status)
		}
		d, err := store.Digest(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("digests differ: %v", digests)
	}
	// Serialised: the second began after the first finished.
	if !runs[0].StartedAt.After(runs[1].FinishedAt) {
		t.Fatalf("run %d started %v, before run %d finished %v", runs[0].ID, runs[0].StartedAt, runs[1].ID, runs[1].FinishedAt)
	}
}

// reconcile migrate on a new ledger applies every migration, then reports
// it up to date; ledger copy moves the ledger to the other backend and back.
func TestMigrateCommand(t *testing.T) {
	db := dbtest.DB(t)
	code, out, stderr := runCLI(t, "migrate", "--db", db)
	if code != exitOK || !strings.Contains(out, "applied 0001_init.sql") || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "migrate", "--db", db)
	if code != exitOK || strings.Contains(out, "applied") || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again: exit %d\n%s", code, out)
	}
}

func TestLedgerCopyCLI(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 12, Charges: 120})
	dir := t.TempDir()
	src := filepath.Join(dir, "old.db") // the copy's source is a SQLite ledger in both passes
	allowSQLite(t)
	if code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", src); code != exitOK {
		t.Fatalf("fetch: exit %d: %s", code, stderr)
	}
	dst := dbtest.DB(t)
	if dbtest.Backend() == dbtest.SQLite {
		dst = "sqlite:" + dst
	}
	code, out, stderr := runCLI(t, "ledger", "copy", "--from", "sqlite:"+src, "--to", dst)
	if code != exitOK || !strings.Contains(out, "1 runs") || !strings.Contains(out, "digest of every run matches") {
		t.Fatalf("ledger copy: exit %d\n%s%s", code, out, stderr)
	}
	// The copy reports like the original.
	var books [][]byte
	for _, db := range []string{src, dst} {
		o := filepath.Join(t.TempDir(), "r.xlsx")
		j := filepath.Join(t.TempDir(), "r.json")
		if code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", o, "--json", j); code != exitOK {
			t.Fatalf("report from %s: exit %d: %s", db, code, stderr)
		}
		b, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, b)
	}
	if !bytes.Equal(books[0], books[1]) {
		t.Fatalf("the JSON report of the copy differs from the original's")
	}
	if code, _, stderr := runCLI(t, "ledger", "copy", "--from", src, "--to", dst); code != exitFailure || !strings.Contains(stderr, "already holds") {
		t.Fatalf("copy into a non-empty ledger: exit %d: %s", code, stderr)
	}
}
