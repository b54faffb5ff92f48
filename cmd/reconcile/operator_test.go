package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// Every numeric flag is checked before anything runs or is recorded.
func TestNumericFlagsRejected(t *testing.T) {
	t.Setenv("SHERWEB_CLIENT_ID", "x")
	t.Setenv("SHERWEB_CLIENT_SECRET", "x")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "x")
	db := filepath.Join(t.TempDir(), "l.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"fetch", "--concurrency", "-3"}, "--concurrency -3"},
		{[]string{"run", "--max-attempts", "0"}, "--max-attempts 0"},
		{[]string{"run", "--max-wait", "0s"}, "--max-wait 0s"},
		{[]string{"run", "--max-wait", "-1s"}, "--max-wait -1s"},
		{[]string{"fetch", "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"run", "--rate", "-1"}, "--rate -1"},
		{[]string{"run", "--tolerance", "-0.01"}, "--tolerance"},
		{[]string{"sim", "--customers", "-1"}, "--customers -1"},
		{[]string{"sim", "--charges", "-5"}, "--charges -5"},
		{[]string{"sim", "--token-ttl", "0s"}, "--token-ttl 0s"},
		{[]string{"sim", "--rate-limit", "-2"}, "--rate-limit -2"},
		{[]string{"sim", "--latency", "-1ms"}, "--latency -1ms"},
	} {
		args := append(tc.args, "--period", "2026-10", "--db", db)
		if tc.args[0] == "sim" {
			args = append(tc.args, "--addr", "127.0.0.1:0")
		}
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q: %s", tc.args, code, exitUsage, tc.want, stderr)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a rejected flag still created the ledger (something was recorded)")
	}
	// 0 is a valid rate (no client-side limit): it passes the check and fails
	// later for the fake credentials' sake only.
	if code, _, stderr := runCLI(t, "run", "--rate", "0", "--period", "2026-10", "--date", "2026-10-01"); code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--rate 0 was rejected: %s", stderr)
	}
}

func TestDateThatDoesNotExist(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"2026-02-30", "day 30 does not exist: February 2026 has 28 days"},
		{"2028-02-30", "February 2028 has 29 days"},
		{"2026-04-31", "April 2026 has 30 days"},
		{"2026-13-01", "month 13 does not exist"},
		{"2026-2-3", "want YYYY-MM-DD"},
	} {
		code, _, stderr := runCLI(t, "fetch", "--date", tc.arg)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("--date %s: exit %d, want %q: %s", tc.arg, code, tc.want, stderr)
		}
	}
}

// A bad flag prints its error once and a one-line hint, not the whole usage.
func TestUnknownFlagPrintsOnce(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--bogus")
	if code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(stderr, "flag provided but not defined"); n != 1 {
		t.Errorf("error printed %d times:\n%s", n, stderr)
	}
	if strings.Contains(stderr, "FLAGS") || strings.Count(stderr, "\n") != 2 {
		t.Errorf("want the error and a one-line hint:\n%s", stderr)
	}
	if !strings.Contains(stderr, "reconcile run -h") {
		t.Errorf("hint does not name the command's help:\n%s", stderr)
	}
}

func TestResolveOut(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ in, file, dir string }{
		{"", "", ""},
		{"close.xlsx", "close.xlsx", ""},
		{"close", "close.xlsx", ""},
		{"reports/", "", "reports"},
		{dir, "", dir},
		{filepath.Join(dir, "a.b"), filepath.Join(dir, "a.b"), ""},
	} {
		f, d := resolveOut(tc.in)
		if f != tc.file || d != tc.dir {
			t.Errorf("resolveOut(%q) = %q, %q; want %q, %q", tc.in, f, d, tc.file, tc.dir)
		}
	}
}

// --out takes a folder (existing, or with a trailing slash) for run and
// report, and a name without extension gets .xlsx.
func TestOutFolderAndExtension(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 30})
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	reports := filepath.Join(dir, "reports")
	if err := os.Mkdir(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", reports+"/"); code != exitOK {
		t.Fatalf("run --out DIR/: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "again")); code != exitOK {
		t.Fatalf("report --out NAME: exit %d: %s", code, stderr)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", sub); code != exitOK {
		t.Fatalf("report --out existing-dir: exit %d: %s", code, stderr)
	}
	for _, p := range []string{
		filepath.Join(reports, "reconciliation-2026-10-01_2026-10-31.xlsx"),
		filepath.Join(dir, "again.xlsx"),
		filepath.Join(sub, "reconciliation-2026-10-01_2026-10-31.xlsx"),
	} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("workbook not where expected: %v", err)
		}
	}
}

// Regression: report --json DIR failed with "rename … file exists" after
// the workbook was already replaced. Exit 1 must mean nothing was replaced.
func TestJSONFolderReplacesNothing(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 30})
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	out := filepath.Join(dir, "c.xlsx")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(out, []byte("previous workbook"), 0o644); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(dir, "json-folder")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"report", "run"} {
		code, _, stderr := runCLI(t, cmd, "--period", "2026-10", "--db", db, "--out", out, "--json", jdir)
		if code != exitFailure || !strings.Contains(stderr, "is a folder") {
			t.Errorf("%s --json DIR: exit %d, want %d naming the folder: %s", cmd, code, exitFailure, stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != "previous workbook" {
			t.Errorf("%s --json DIR: the workbook was replaced although the command failed", cmd)
		}
	}
	if left := leftovers(dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// fetch --json uses run --json's coverage key names.
func TestFetchJSONCoverageKeys(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 3, Customers: 6, Charges: 30}
	bad := sherwebsim.New(cfg).Customers()[1].ID
	cfg.Faults.FailCustomerAlways = []string{bad}
	simEnv(t, cfg)
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	_, fetchOut, _ := runCLI(t, "fetch", "--period", "2026-10", "--db", db, "--json", "-", "--max-attempts", "1")
	_, runOut, _ := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "c.xlsx"), "--json", "-", "--max-attempts", "1")
	var f, r struct {
		Coverage map[string]json.RawMessage `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(fetchOut), &f); err != nil {
		t.Fatalf("fetch --json: %v\n%s", err, fetchOut)
	}
	if err := json.Unmarshal([]byte(runOut), &r); err != nil {
		t.Fatalf("run --json: %v\n%s", err, runOut)
	}
	for _, k := range []string{"customers", "receivables_available", "receivables_missing"} {
		if f.Coverage[k] == nil || r.Coverage[k] == nil {
			t.Errorf("coverage key %q: fetch has it %v, run has it %v", k, f.Coverage[k] != nil, r.Coverage[k] != nil)
		}
	}
	if !bytes.Equal(f.Coverage["receivables_missing"], r.Coverage["receivables_missing"]) && !strings.Contains(string(f.Coverage["receivables_missing"]), bad) {
		t.Errorf("fetch coverage does not name the missing customer: %s", f.Coverage["receivables_missing"])
	}
}

func TestFuturePeriodWarning(t *testing.T) {
	now := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		date billing.Date
		want string
	}{
		{"2026-10-01", ""},
		{"2026-11-03", "current month"},
		{"2027-01-01", "in the future"},
	} {
		var b bytes.Buffer
		warnFuturePeriod(tc.date, now, &b)
		if (tc.want == "") != (b.Len() == 0) || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: warning %q, want %q", tc.date, b.String(), tc.want)
		}
	}
}

// A missing ledger suggests what to do.
func TestMissingLedgerSuggestsNextStep(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, args := range [][]string{{"runs", "--db", db}, {"report", "--period", "2026-10", "--db", db}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFailure || !strings.Contains(stderr, "reconcile run") || !strings.Contains(stderr, "--db") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
}

func openRO(t *testing.T, db string) *ledger.Store {
	t.Helper()
	s, err := ledger.Open(context.Background(), db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
