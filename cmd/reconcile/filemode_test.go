//go:build unix

package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// modeRun is one `reconcile run` subprocess under a given umask (the umask is
// process-wide, so it is set in a child: sh sets it and execs this test
// binary as the program, see TestMain). While it runs, the ledger's -wal and
// -shm files are watched: SQLite removes them when the run closes the ledger.
type modeRun struct {
	code             int
	stderr           string
	wal, shm         fs.FileMode // as first seen while the run was going; 0 = never seen
	walSeen, shmSeen bool
}

func runUnderUmask(t *testing.T, umask int, env []string, db string, args ...string) modeRun {
	t.Helper()
	script := fmt.Sprintf(`umask %04o && exec "$0" "$@"`, umask)
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, os.Args[0]}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start reconcile: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r modeRun
	watch := func() {
		if fi, err := os.Stat(db + "-wal"); err == nil && !r.walSeen {
			r.wal, r.walSeen = fi.Mode().Perm(), true
		}
		if fi, err := os.Stat(db + "-shm"); err == nil && !r.shmSeen {
			r.shm, r.shmSeen = fi.Mode().Perm(), true
		}
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			watch()
		}
	}
	r.stderr = stderr.String()
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return r
}

func permOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The books at rest, end to end through `reconcile run` against the
// simulator under umask 022 and 077: the ledger and its WAL and SHM are 0600
// in both; the workbook and the JSON summary follow the umask (0644, 0600);
// no warning for the ledger the run created. Then the ledger is made 0644:
// the next run warns with the chmod that fixes it and still uses the
// ledger, and a replaced workbook keeps its mode.
func TestRunFileModesUnderUmask(t *testing.T) {
	dbtest.SQLiteOnly(t) // the modes of the ledger file and its -wal/-shm
	for _, tc := range []struct {
		umask  int
		report fs.FileMode
	}{
		{0o022, 0o644},
		{0o077, 0o600},
	} {
		t.Run(fmt.Sprintf("umask%04o", tc.umask), func(t *testing.T) {
			// Every API call waits a little, so that the run lasts long
			// enough for its WAL to be seen.
			sim := sherwebsim.New(sherwebsim.Config{Seed: 3, Customers: 6, Charges: 60,
				Faults: sherwebsim.Faults{Latency: 15 * time.Millisecond}})
			srv := httptest.NewServer(sim)
			t.Cleanup(srv.Close)
			env := append(os.Environ(),
				testMainEnv+"=1",
				"SHERWEB_BASE_URL="+srv.URL,
				"SHERWEB_CLIENT_ID=sim-client",
				"SHERWEB_CLIENT_SECRET=sim-secret",
				"SHERWEB_SUBSCRIPTION_KEY=sim-key",
				"SHERWEB_CLIENT_SECRET_FILE=",
				"SHERWEB_SUBSCRIPTION_KEY_FILE=",
				"RECONCILE_DB=",
			)
			dir := t.TempDir()
			db := filepath.Join(dir, "reconcile.db")
			out := filepath.Join(dir, "close.xlsx")
			js := filepath.Join(dir, "close.json")
			args := []string{"run", "--period", "2026-10", "--db", db, "--out", out, "--json", js}

			r := runUnderUmask(t, tc.umask, env, db, args...)
			if r.code != exitOK {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			if got := permOf(t, db); got != 0o600 {
				t.Errorf("ledger mode %v, want 0600", got)
			}
			if !r.walSeen || !r.shmSeen {
				t.Fatalf("the ledger's -wal/-shm were not seen during the run (wal %v, shm %v)", r.walSeen, r.shmSeen)
			}
			if r.wal != 0o600 || r.shm != 0o600 {
				t.Errorf("-wal mode %v, -shm mode %v; want 0600", r.wal, r.shm)
			}
			if got := permOf(t, out); got != tc.report {
				t.Errorf("workbook mode %v, want %v", got, tc.report)
			}
			if got := permOf(t, js); got != tc.report {
				t.Errorf("JSON mode %v, want %v", got, tc.report)
			}
			if strings.Contains(r.stderr, "warning") {
				t.Errorf("a warning for a fresh run: %s", r.stderr)
			}

			// A loose ledger: warned about, still used. A replaced workbook
			// keeps its mode.
			if err := os.Chmod(db, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(out, 0o640); err != nil {
				t.Fatal(err)
			}
			r = runUnderUmask(t, tc.umask, env, db, args...)
			if r.code != exitOK {
				t.Fatalf("second run: exit %d: %s", r.code, r.stderr)
			}
			if want := "warning: ledger file readable by group or others (" + db + " 0644"; !strings.Contains(r.stderr, want) ||
				!strings.Contains(r.stderr, "chmod 600 "+db) {
				t.Errorf("no warning with the chmod for the 0644 ledger; stderr:\n%s", r.stderr)
			}
			if got := permOf(t, db); got != 0o644 {
				t.Errorf("the run changed the existing ledger's mode to %v", got)
			}
			if got := permOf(t, out); got != 0o640 {
				t.Errorf("replaced workbook mode %v, want its 0640 kept", got)
			}
			code, stdout, stderr := runCLI(t, "runs", "--db", db)
			if code != exitOK || strings.Count(stdout, "complete") != 2 {
				t.Errorf("runs: exit %d, want two complete runs in the loose ledger:\n%s", code, stdout)
			}
			if !strings.Contains(stderr, "chmod 600 "+db) {
				t.Errorf("runs did not warn about the loose ledger: %s", stderr)
			}
		})
	}
}
