package main

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// mountTmpfs mounts a small tmpfs at a fresh folder, or skips the test where
// the process may not mount (not root, or no mount(8)).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", dir, mode, err, out)
	}
}

func integrityOK(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check of %s = %q, %v", path, res, err)
	}
}

func completeDigest(t *testing.T, db string) (string, int) {
	t.Helper()
	ctx := context.Background()
	s, err := ledger.Open(ctx, db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, err := s.FindRun(ctx, "2026-10-01")
	if err != nil {
		t.Fatalf("find complete run: %v", err)
	}
	d, err := s.Digest(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d, int(run.ID)
}

// A read-only ledger fails in the preflight, before any API call.
func TestReadOnlyLedgerFailsBeforeAnyCall(t *testing.T) {
	dbtest.SQLiteOnly(t) // a ledger file on a read-only mount
	dir := mountTmpfs(t, "8m")
	db := filepath.Join(dir, "l.db")
	s, err := ledger.Open(context.Background(), db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	remount(t, dir, "ro")
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 5, Charges: 50})
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(t.TempDir(), "c.xlsx"))
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, db) || !strings.Contains(stderr, "not writable") {
		t.Errorf("message does not say the ledger %s is not writable: %s", db, stderr)
	}
	if st := sim.Stats(); st.Calls != 0 || st.TokenRequests != 0 {
		t.Errorf("API was called before the preflight failed: %+v", st)
	}
}

// An unwritable output folder fails in the preflight, before any API call.
func TestUnwritableOutputFailsBeforeAnyCall(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	remount(t, dir, "ro")
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 5, Charges: 50})
	db := dbtest.DB(t)
	for _, args := range [][]string{
		{"run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "c.xlsx")},
		{"run", "--period", "2026-10", "--db", db, "--out", filepath.Join(t.TempDir(), "c.xlsx"), "--json", filepath.Join(dir, "s.json")},
		{"run", "--period", "2026-10", "--db", db, "--out", filepath.Join(t.TempDir(), "missing-folder", "c.xlsx")},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFailure || !(strings.Contains(stderr, "not writable") || strings.Contains(stderr, "missing-folder does not exist")) {
			t.Errorf("%v: exit %d, want %d with 'not writable' or 'does not exist': %s", args, code, exitFailure, stderr)
		}
		if strings.Contains(stderr, "preflight") {
			t.Errorf("%v: the message names an internal temp file: %s", args, stderr)
		}
	}
	if st := sim.Stats(); st.Calls != 0 || st.TokenRequests != 0 {
		t.Errorf("API was called before the preflight failed: %+v", st)
	}
}

// A full disk under the ledger surfaces as a clear error and leaves the
// previous complete run intact and the output path untouched.
func TestLedgerDiskFull(t *testing.T) {
	dbtest.SQLiteOnly(t) // a ledger file on a full tmpfs
	dir := mountTmpfs(t, "4m")
	db := filepath.Join(dir, "l.db")
	out := filepath.Join(t.TempDir(), "c.xlsx")

	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 20})
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out); code != exitOK {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	before, beforeID := completeDigest(t, db)
	book, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	// Far more data than the tmpfs holds.
	simEnv(t, sherwebsim.Config{Seed: 4, Customers: 100, Charges: 20000})
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out)
	if code != exitFailure {
		t.Fatalf("run on a full disk: exit %d, want %d: %s", code, exitFailure, stderr)
	}
	t.Logf("stderr: %s", stderr)
	if !strings.Contains(strings.ToLower(stderr), "full") {
		t.Errorf("error does not say the disk is full: %s", stderr)
	}
	integrityOK(t, db)
	after, afterID := completeDigest(t, db)
	if after != before || afterID != beforeID {
		t.Errorf("previous complete run changed: run %d digest %s, want run %d %s", afterID, after, beforeID, before)
	}
	now, err := os.ReadFile(out)
	if err != nil || string(now) != string(book) {
		t.Errorf("workbook at the output path was touched (err %v)", err)
	}
}

// A full disk under the output folder leaves no file at the output path and
// no temporary files.
func TestOutputDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 30, Charges: 2000})
	out := filepath.Join(dir, "c.xlsx")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", out)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, "no space left") {
		t.Errorf("error does not say the disk is full: %s", stderr)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind in the output folder: %s", e.Name())
	}
}

// Ctrl-C stops a run promptly, records it as failed and exits 130.
func TestInterruptExits130(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 3, Customers: 40, Charges: 200}
	cfg.Faults.Latency = 50 * time.Millisecond
	sim := simEnv(t, cfg)
	dir := t.TempDir()
	db := dbtest.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Interrupted 400ms into the fetch (the run has begun: the ledger is
	// open, the API called; opening a new PostgreSQL ledger takes a while).
	var cancelled time.Time
	go func() {
		for sim.Stats().Calls == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(400 * time.Millisecond)
		cancelled = time.Now()
		cancel()
	}()
	var out, errb strings.Builder
	err := run(ctx, []string{"run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "c.xlsx")}, &out, &errb)
	if code := exitCode(err, &errb); code != exitInterrupted {
		cancel()
		t.Fatalf("exit %d, want %d: %v", code, exitInterrupted, err)
	}
	if d := time.Since(cancelled); d > 5*time.Second {
		t.Errorf("interrupt took %v to stop the run", d)
	}
	s, err := ledger.Open(context.Background(), db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(context.Background())
	if err != nil || len(runs) != 1 || runs[0].Status != "failed" {
		t.Fatalf("runs after interrupt = %+v, %v; want one failed run", runs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.xlsx")); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote a workbook (stat err %v)", err)
	}
}
