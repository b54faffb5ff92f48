package main

import (
	"bytes"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// csvTempSize is the size of the temp file being written for the output
// named base in dir (0 when there is none yet), other than those in old.
func csvTempSize(dir, base string, old []string) int64 {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		n := en.Name()
		if strings.HasPrefix(n, "."+base+"-") && strings.HasSuffix(n, ".tmp") && !strings.Contains(n, "-scratch-") && !slices.Contains(old, n) {
			if fi, err := en.Info(); err == nil {
				return fi.Size()
			}
		}
	}
	return 0
}

// TestCrashDetailCSV kills `reconcile run --detail csv` while one of its CSV
// files is being written (with direct I/O: atomicfile.File.Direct), once its
// temp file has reached a seeded size, then runs the close again. At every
// point the files at the target paths are absent or complete (equal to an
// uninterrupted run's, byte for byte), never part of one; the last run
// leaves the same files and no temp file.
func TestCrashDetailCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts subprocesses; skipped with -short")
	}
	cfg, points := sherwebsim.Config{Seed: 12, Customers: 40, Charges: 20000}, 6
	if raceBuild() {
		cfg.Charges, points = 6000, 4
	}
	if dbtest.Backend() == dbtest.Postgres {
		points = 2 // the files do not depend on the ledger; one point per file
	}
	srv := httptest.NewServer(sherwebsim.New(cfg))
	t.Cleanup(srv.Close)
	env := append(os.Environ(), testMainEnv+"=1", "SHERWEB_BASE_URL="+srv.URL, "SHERWEB_CLIENT_ID=sim-client",
		"SHERWEB_CLIENT_SECRET=sim-secret", "SHERWEB_SUBSCRIPTION_KEY=sim-key", "RECONCILE_DB=")
	dir := t.TempDir()
	start := func(db, outDir string) *attempt {
		t.Helper()
		a := &attempt{done: make(chan struct{})}
		a.cmd = exec.Command(os.Args[0], "run", "--period", "2026-10", "--db", db, "--detail", "csv",
			"--out", filepath.Join(outDir, "close.xlsx"), "--json", filepath.Join(outDir, "close.json"))
		a.cmd.Env = env
		a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
		a.start = time.Now()
		if err := a.cmd.Start(); err != nil {
			t.Fatalf("start reconcile run: %v", err)
		}
		go func() {
			a.waitErr = a.cmd.Wait()
			close(a.done)
		}()
		return a
	}
	files := []string{"close-payable.csv", "close-receivable.csv"}

	// The uninterrupted run's files.
	cleanDir := filepath.Join(dir, "clean")
	if err := os.MkdirAll(cleanDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if code := start(crashDB(t, filepath.Join(cleanDir, "clean.db")), cleanDir).wait(t); code != exitOK {
		t.Fatalf("clean run: exit %d", code)
	}
	clean := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(cleanDir, f))
		if err != nil {
			t.Fatalf("clean run: %v", err)
		}
		clean[f] = b
	}
	if n := len(clean[files[0]]); n < 2<<20 {
		t.Fatalf("the payable CSV is %d bytes: too small to be killed between its direct writes", n)
	}

	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := crashDB(t, filepath.Join(dir, "ledger.db"))
	check := func(when string) {
		t.Helper()
		for _, f := range files {
			got, err := os.ReadFile(filepath.Join(outDir, f))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if !bytes.Equal(got, clean[f]) {
				t.Fatalf("%s: %s is %d bytes that differ from the clean run's %d", when, f, len(got), len(clean[f]))
			}
		}
	}
	rng := rand.New(rand.NewPCG(13, 0xc5f))
	killedMid := 0
	for i := 0; i < points; i++ {
		f := files[i%len(files)]
		at := 1 + rng.Int64N(int64(len(clean[f]))-1) // kill once the temp file has this many bytes
		stale := leftovers(outDir)
		a := start(db, outDir)
		var size int64
		for size < at {
			select {
			case <-a.done:
			case <-time.After(200 * time.Microsecond):
				size = csvTempSize(outDir, f, stale)
				continue
			}
			break
		}
		killed := a.kill(t)
		if killed && size < int64(len(clean[f])) {
			killedMid++
		}
		t.Logf("point %d: %s at %d of %d bytes: killed %v with the temp file at %d bytes; left %q",
			i, f, at, len(clean[f]), killed, size, leftovers(outDir))
		check("point " + f)
	}
	if killedMid == 0 {
		t.Errorf("no point killed a run while a CSV file was being written")
	}

	a := start(db, outDir)
	if code := a.wait(t); code != exitOK {
		t.Fatalf("final run: exit %d\nstderr: %s", code, a.stderr.String())
	}
	check("after the final run")
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(outDir, f)); err != nil {
			t.Errorf("final run: %v", err)
		}
	}
	if left := leftovers(outDir); len(left) != 0 {
		t.Errorf("final run left %q", left)
	}
}
