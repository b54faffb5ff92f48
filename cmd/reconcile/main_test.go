package main

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

var update = flag.Bool("update", false, "rewrite sample-output/ from the demo")

// runCLI runs the program as main would and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	checkBackend(t, args)
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code = exitCode(err, &errb)
	return code, out.String(), errb.String()
}

// simEnv serves a simulator and points the environment at it.
func simEnv(t *testing.T, cfg sherwebsim.Config) *sherwebsim.Server {
	t.Helper()
	sim := sherwebsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Setenv("SHERWEB_BASE_URL", srv.URL)
	t.Setenv("SHERWEB_CLIENT_ID", "sim-client")
	t.Setenv("SHERWEB_CLIENT_SECRET", "sim-secret")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "sim-key")
	return sim
}

func TestUsageErrors(t *testing.T) {
	dbtest.NoLedger(t)
	t.Setenv("SHERWEB_CLIENT_ID", "")
	t.Setenv("SHERWEB_CLIENT_SECRET", "")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"fetch"}, "--period or --date is required"},
		{[]string{"fetch", "--period", "2026-13"}, "month 13 does not exist"},
		{[]string{"fetch", "--period", "2026-1"}, "want YYYY-MM"},
		{[]string{"run", "--period", "2026-10", "--date", "2026-10-02"}, "not both"},
		{[]string{"run", "--period", "2026-10"}, "SHERWEB_CLIENT_ID, SHERWEB_CLIENT_SECRET, SHERWEB_SUBSCRIPTION_KEY"},
		{[]string{"run", "--bogus"}, "flag provided but not defined"},
		{[]string{"report"}, "exactly one of"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q does not contain %q", tc.args, stderr, tc.want)
		}
	}
}

// The exit-code table is on the main help only; a subcommand's -h points
// to it and lists its flags as they are typed ("--db FILE").
func TestHelpShowsExitCodes(t *testing.T) {
	dbtest.NoLedger(t)
	code, stdout, _ := runCLI(t, "-h")
	if code != 0 || !strings.Contains(stdout, "EXIT STATUS") {
		t.Errorf("reconcile -h: exit %d, output lacks EXIT STATUS", code)
	}
	for _, cmd := range []string{"run", "fetch", "report", "runs", "demo", "sim"} {
		code, _, stderr := runCLI(t, cmd, "-h")
		if code != 0 || strings.Contains(stderr, "EXIT STATUS") || !strings.Contains(stderr, "reconcile -h") {
			t.Errorf("reconcile %s -h: exit %d; want no exit table, a pointer to 'reconcile -h':\n%s", cmd, code, stderr)
		}
		if cmd != "demo" && cmd != "sim" && !strings.Contains(stderr, "--db FILE") {
			t.Errorf("reconcile %s -h: no '--db FILE' placeholder:\n%s", cmd, stderr)
		}
	}
}

func TestRunCompleteThenReportIsByteIdentical(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 12, Charges: 120})
	dir := t.TempDir()
	db := dbtest.DB(t) // a SQLite file, or a PostgreSQL database in that pass
	out := filepath.Join(dir, "close.xlsx")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out, "--json", filepath.Join(dir, "close.json"))
	if code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("workbook not written: %v", err)
	}
	// Re-issue twice from the ledger: byte-identical files.
	var books, jsons [][]byte
	for i := 0; i < 2; i++ {
		o := filepath.Join(dir, "again.xlsx")
		j := filepath.Join(dir, "again.json")
		code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", o, "--json", j)
		if code != exitOK {
			t.Fatalf("report: exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(o)
		js, _ := os.ReadFile(j)
		books, jsons = append(books, b), append(jsons, js)
	}
	if !bytes.Equal(books[0], books[1]) || len(books[0]) == 0 {
		t.Error("two reports of the same run gave different workbooks")
	}
	if !bytes.Equal(jsons[0], jsons[1]) || len(jsons[0]) == 0 {
		t.Error("two reports of the same run gave different JSON")
	}
	code, stdout, _ := runCLI(t, "runs", "--db", db)
	if code != 0 || !strings.Contains(stdout, "complete") {
		t.Errorf("runs: exit %d:\n%s", code, stdout)
	}
}

func TestRunIncompleteWritesMarkedReport(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 3, Customers: 12, Charges: 120}
	bad := sherwebsim.New(cfg).Customers()[2].ID
	cfg.Faults.FailCustomerAlways = []string{bad}
	simEnv(t, cfg)
	dir := t.TempDir()
	js := filepath.Join(dir, "s.json")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", filepath.Join(dir, "c.xlsx"), "--json", js, "--max-attempts", "2")
	if code != exitIncomplete {
		t.Fatalf("exit %d, want %d (incomplete): %s", code, exitIncomplete, stderr)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"complete": false`)) || !bytes.Contains(b, []byte(bad)) {
		t.Errorf("JSON does not say incomplete / name the customer:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.xlsx")); err != nil {
		t.Errorf("incomplete run wrote no workbook: %v", err)
	}
}

func TestFailOnFindings(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 12, Charges: 120})
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", filepath.Join(dir, "c.xlsx"), "--fail-on-findings")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d: %s", code, exitFindings, stderr)
	}
}

func TestFetchTruncatedPayableExitsFailure(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 5, Charges: 50, Faults: sherwebsim.Faults{TruncatePayable: "always"}})
	code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", dbtest.DB(t), "--max-attempts", "2")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, "payable-charges") {
		t.Errorf("stderr does not name the payable endpoint: %s", stderr)
	}
}

// The committed sample-output/ is what the demo produces now.
func TestSampleOutputIsCurrent(t *testing.T) {
	dbtest.SQLiteOnly(t) // the demo keeps its own temporary SQLite ledger (it takes no --db)
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := demo(context.Background(), dir, false, &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s", err, errb.String())
	}
	sample := filepath.Join("..", "..", "sample-output")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 4 {
		t.Fatalf("demo wrote %d files, want 4 (close and comparison, workbook and JSON each): %v", len(entries), err)
	}
	for _, e := range entries {
		got, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		path := filepath.Join(sample, e.Name())
		if *update {
			if err := os.MkdirAll(sample, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run 'make golden' to create sample-output/)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("sample-output/%s is stale: run 'make golden' (go test ./cmd/reconcile -run Sample -update)", e.Name())
		}
	}
}

func TestSecretFilesAndPermissionWarning(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 20})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(secret, []byte("sim-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("sim-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHERWEB_CLIENT_SECRET", "")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "")
	t.Setenv("SHERWEB_CLIENT_SECRET_FILE", secret)
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY_FILE", key)
	code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", dbtest.DB(t))
	if code != exitOK {
		t.Fatalf("fetch with secrets from files: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, secret) || !strings.Contains(stderr, "readable by others") {
		t.Errorf("no warning for the world-readable secret file: %s", stderr)
	}
	if strings.Contains(stderr, key+" (from") {
		t.Errorf("warned about the 0600 key file: %s", stderr)
	}
	if strings.Contains(stderr, "sim-secret") || strings.Contains(stderr, "sim-key") {
		t.Errorf("a secret appeared on stderr: %s", stderr)
	}
}

func TestDetailCSV(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	dir := t.TempDir()
	out := filepath.Join(dir, "close.xlsx")
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", out, "--detail", "csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"close.xlsx", "close-payable.csv", "close-receivable.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	if code, _, _ := runCLI(t, "run", "--period", "2026-10", "--detail", "pdf"); code != exitUsage {
		t.Errorf("--detail pdf: exit %d, want %d", code, exitUsage)
	}
}
