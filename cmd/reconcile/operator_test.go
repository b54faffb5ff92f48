package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// Every numeric flag is checked before anything runs or is recorded.
func TestNumericFlagsRejected(t *testing.T) {
	t.Setenv("SHERWEB_CLIENT_ID", "x")
	t.Setenv("SHERWEB_CLIENT_SECRET", "x")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "x")
	db := dbtest.DB(t)
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
	if ledgerExists(t, db) {
		t.Error("a rejected flag still created the ledger (something was recorded)")
	}
	// 0 is a valid rate (no client-side limit): it passes the check and fails
	// later for the fake credentials' sake only.
	if code, _, stderr := runCLI(t, "run", "--rate", "0", "--period", "2026-10", "--date", "2026-10-01"); code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--rate 0 was rejected: %s", stderr)
	}
}

func TestDateThatDoesNotExist(t *testing.T) {
	dbtest.NoLedger(t)
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
	dbtest.NoLedger(t)
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
	dbtest.NoLedger(t)
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
	db := dbtest.DB(t)
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
	db := dbtest.DB(t)
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
	db := dbtest.DB(t)
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
	dbtest.NoLedger(t)
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
	if dbtest.Backend() == dbtest.Postgres {
		db = dbtest.NewDatabase(t) // a database without a ledger in it
	}
	for _, args := range [][]string{{"runs", "--db", db}, {"report", "--period", "2026-10", "--db", db}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitFailure || !strings.Contains(stderr, "reconcile run") || !strings.Contains(stderr, "--db") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if ledgerExists(t, db) {
		t.Error("a command that reads created the ledger")
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

// recvCounter counts receivable calls per customer.
type recvCounter struct {
	h     http.Handler
	mu    sync.Mutex
	calls map[string]int
}

func (c *recvCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == sherwebsim.PathReceivable {
		c.mu.Lock()
		c.calls[r.URL.Query().Get("customerId")]++
		c.mu.Unlock()
	}
	c.h.ServeHTTP(w, r)
}

func (c *recvCounter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.calls
	c.calls = map[string]int{}
	return old
}

// run --retry-missing after an incomplete run: a new complete run whose
// ledger digest equals a clean full fetch's, which called the receivables
// of the missing customer only.
func TestRetryMissingEndToEnd(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 5, Customers: 10, Charges: 80}
	sim := sherwebsim.New(cfg)
	bad := sim.Customers()[4].ID
	sim.SetFaults(sherwebsim.Faults{FailCustomerAlways: []string{bad}})
	counter := &recvCounter{h: sim, calls: map[string]int{}}
	srv := httptest.NewServer(counter)
	t.Cleanup(srv.Close)
	t.Setenv("SHERWEB_BASE_URL", srv.URL)
	t.Setenv("SHERWEB_CLIENT_ID", "sim-client")
	t.Setenv("SHERWEB_CLIENT_SECRET", "sim-secret")
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "sim-key")
	dir := t.TempDir()
	db := dbtest.DB(t)
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", dir+"/", "--max-attempts", "1")
	if code != exitIncomplete {
		t.Fatalf("first run: exit %d, want %d: %s", code, exitIncomplete, stderr)
	}

	sim.SetFaults(sherwebsim.Faults{})
	counter.reset()
	js := filepath.Join(dir, "retry.json")
	code, _, stderr = runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "retry.xlsx"), "--json", js, "--retry-missing")
	if code != exitOK {
		t.Fatalf("retry: exit %d: %s", code, stderr)
	}
	calls := counter.reset()
	if len(calls) != 1 || calls[bad] != 1 {
		t.Errorf("retry called the receivables of %v, want only %s once", calls, bad)
	}
	store := openRO(t, db)
	ctx := context.Background()
	runs, err := store.Runs(ctx)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	retry := runs[0]
	if retry.Status != billing.RunComplete {
		t.Fatalf("retry run is %s", retry.Status)
	}
	if !strings.Contains(retry.Settings, "retry of run") || !strings.Contains(retry.Settings, "reused from run 1 for 9 customers, fetched for 1") {
		t.Errorf("retry's provenance not recorded: %s", retry.Settings)
	}
	got, err := store.Digest(ctx, retry.ID)
	if err != nil {
		t.Fatal(err)
	}

	// A clean full fetch of the same period in a fresh ledger.
	clean := dbtest.DB(t)
	if code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", clean); code != exitOK {
		t.Fatalf("clean fetch: exit %d: %s", code, stderr)
	}
	cs := openRO(t, clean)
	want, err := cs.Digest(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("retry digest %s != clean fetch digest %s", got, want)
	}
	b, _ := os.ReadFile(js)
	if !bytes.Contains(b, []byte(`"complete": true`)) {
		t.Errorf("retry JSON is not complete:\n%s", b)
	}

	// Once complete, a retry has nothing to do (exit 0, no new run).
	code, _, stderr = runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", dir+"/", "--retry-missing")
	if code != exitOK || !strings.Contains(stderr, "nothing to retry") {
		t.Errorf("retry of a complete period: exit %d: %s", code, stderr)
	}
}

// runs shows the whole error, findings and totals, and --json.
func TestRunsListing(t *testing.T) {
	cfg := sherwebsim.Config{Seed: 3, Customers: 5, Charges: 40}
	simEnv(t, cfg)
	dir := t.TempDir()
	db := dbtest.DB(t)
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", dir+"/"); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	// A run that fails with a long error (bad credentials: 401 at the end).
	t.Setenv("SHERWEB_CLIENT_SECRET", "wrong-secret-"+strings.Repeat("x", 10))
	code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", db, "--max-attempts", "1")
	if code == exitOK {
		t.Fatalf("fetch with a wrong secret succeeded: %s", stderr)
	}
	code, stdout, stderr := runCLI(t, "runs", "--db", db)
	if code != exitOK {
		t.Fatalf("runs: exit %d: %s", code, stderr)
	}
	store := openRO(t, db)
	runs, _ := store.Runs(context.Background())
	var failed ledger.Run
	for _, r := range runs {
		if r.Status == billing.RunFailed {
			failed = r
		}
	}
	if failed.ID == 0 || !strings.Contains(stdout, failed.Error) {
		t.Errorf("runs does not show the whole error %q:\n%s", failed.Error, stdout)
	}
	if !strings.Contains(stdout, "FINDINGS") || !strings.Contains(stdout, " CAD") && !strings.Contains(stdout, " USD") {
		t.Errorf("runs lacks findings/totals:\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, "runs", "--db", db, "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || code != exitOK || len(rows) != 2 {
		t.Fatalf("runs --json: exit %d, %v:\n%s", code, err, stdout)
	}
	complete := rows[1]
	if complete["status"] != "complete" || complete["findings"] == nil || len(complete["totals"].([]any)) == 0 {
		t.Errorf("complete run in --json lacks findings/totals: %v", complete)
	}
	if rows[0]["findings"] != nil {
		t.Errorf("failed run has findings: %v", rows[0])
	}
}

// runs prune: dry run by default; --yes deletes what the policy says and
// vacuums; a run another table refers to is never deleted.
func TestRunsPrune(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 30})
	dir := t.TempDir()
	db := dbtest.DB(t)
	for i := 0; i < 3; i++ {
		if code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", db); code != exitOK {
			t.Fatalf("fetch: exit %d: %s", code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "fetch", "--period", "2026-09", "--db", db); code != exitOK {
		t.Fatalf("fetch: exit %d: %s", code, stderr)
	}
	// Run 1 is referred to by the exceptions register: accept one of its findings.
	jsonOut := filepath.Join(dir, "run1.json")
	if code, _, stderr := runCLI(t, "report", "--run", "1", "--db", db, "--out", filepath.Join(dir, "run1.xlsx"), "--json", jsonOut); code != exitOK {
		t.Fatalf("report --run 1: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Mismatches []struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"mismatches"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil || len(sum.Mismatches) == 0 {
		t.Fatalf("run 1 has no finding to accept (%v)", err)
	}
	if code, _, stderr := runCLI(t, "accept", sum.Mismatches[0].Fingerprint, "--reason", "known", "--run", "1", "--db", db); code != exitOK {
		t.Fatalf("accept: exit %d: %s", code, stderr)
	}

	code, stdout, stderr := runCLI(t, "runs", "prune", "--db", db)
	if code != exitOK || !strings.Contains(stdout, "dry run: 1 of 4 runs would be deleted") {
		t.Fatalf("dry run: exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "an exception refers to it") {
		t.Errorf("dry run does not say why run 1 is kept:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(t, "runs", "prune", "--db", db, "--yes")
	if code != exitOK || !strings.Contains(stdout, "deleted 1 runs; ledger") || !strings.Contains(stdout, "after") {
		t.Fatalf("prune --yes: exit %d: %s%s", code, stdout, stderr)
	}
	store := openRO(t, db)
	runs, _ := store.Runs(context.Background())
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[4 3 1]" {
		t.Errorf("runs left %v, want [4 3 1] (run 2 pruned: older complete, not referred to)", ids)
	}
	if code, _, _ := runCLI(t, "runs", "prune", "--db", db, "--keep", "0"); code != exitUsage {
		t.Errorf("--keep 0: exit %d, want %d", code, exitUsage)
	}
}

// The progress display draws every phase on a (fake) terminal, and nothing
// is drawn when stderr is not a terminal.
func TestProgressRenderer(t *testing.T) {
	var buf lockedWriter
	p := newTermProgress(&buf, true)
	p.stats = func() string { return "1.0 KiB received, 3 calls, 1 retries, 1 × 429" }
	p.Phase(job.PhasePayable, "lines", 0)
	p.Rows(1500)
	time.Sleep(3 * progressRefresh)
	p.Phase(job.PhaseCustomers, "customers", 10)
	p.Rows(4)
	time.Sleep(3 * progressRefresh)
	p.Rows(10)
	p.Phase(job.PhaseWorkbook, "rows", 200)
	p.Rows(200)
	p.Close()
	out := buf.String()
	for _, want := range []string{"payable charges", "1500 lines", "customers", "10/10 customers", "1 × 429", "workbook", "200/200 rows"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}

	// Not a terminal: no display at all, and the close's stderr is only its
	// outcome line.
	if newProgress(&bytes.Buffer{}) != nil {
		t.Error("a progress display for a non-terminal")
	}
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 30})
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", dbtest.DB(t), "--out", dir+"/")
	if code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "run 1 COMPLETE") {
		t.Errorf("non-terminal stderr is not just the outcome line:\n%s", stderr)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// fetch --json DIR and a ledger in a missing folder fail before any call,
// naming the folder (not an internal probe file).
func TestFetchOutputsCheckedFirst(t *testing.T) {
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 3, Charges: 20})
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", dbtest.DB(t), "--json", dir)
	if code != exitFailure || !strings.Contains(stderr, "is a folder") {
		t.Errorf("fetch --json DIR: exit %d: %s", code, stderr)
	}
	if dbtest.Backend() == dbtest.SQLite { // the folder of a SQLite ledger file
		missing := filepath.Join(dir, "nope")
		code, _, stderr = runCLI(t, "fetch", "--period", "2026-10", "--db", filepath.Join(missing, "l.db"))
		if code != exitFailure || !strings.Contains(stderr, missing+" does not exist") || strings.Contains(stderr, "preflight") {
			t.Errorf("ledger in a missing folder: exit %d: %s", code, stderr)
		}
	}
	if st := sim.Stats(); st.Calls != 0 {
		t.Errorf("API called before the checks failed: %+v", st)
	}
}
