package job_test

// The fault matrix (performance-and-reliability.md §8.3, F1–F10): every fault
// the simulator can play, run through the whole pipeline (fetch → ledger →
// reconcile → workbook + JSON), each against the documented outcome:
//
//   - recoverable: the run is complete and stores exactly what a clean run
//     stores (same ledger digest) and reports exactly the same thing (same
//     JSON bytes);
//   - incomplete: the run is partial (ErrIncomplete), only the failing
//     customers' receivables are missing, the report says so and invents no
//     leakage for them, and everything else equals the clean run;
//   - failed: the run is failed with an error naming the endpoint or field,
//     nothing of it is visible to reports.
//
// Every row also runs with recognisable secrets and a debug logger, and every
// artefact is scanned for them (see secrets_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

type outcome int

const (
	recoverable outcome = iota // complete; digest and JSON equal the clean run's
	incomplete                 // partial; the listed customers are fetch_failed
	failed                     // failed; nothing visible
	custom                     // the row's check decides everything
)

func (o outcome) String() string {
	return [...]string{"recoverable", "incomplete", "failed", "custom"}[o]
}

// faultRow is one line of the matrix.
type faultRow struct {
	name     string
	faults   func(cs []billing.Customer) sherwebsim.Faults
	tokenTTL time.Duration
	// tune adjusts the client configuration (timeouts, attempts).
	tune func(*fetch.Config)
	// wrap puts a test middleware in front of the simulator (body rewrites
	// the simulator cannot play itself).
	wrap        func(cs []billing.Customer) func(http.Handler) http.Handler
	concurrency int // default 8, the tool's
	want        outcome
	// missing: for incomplete rows, the customers whose receivables fail.
	missing func(cs []billing.Customer) []string
	// errHas: substrings of the run error (failed) or of the failing
	// customers' coverage error (incomplete).
	errHas []string
	// fired returns "" when the fault demonstrably happened, else why not
	// (a fault that never fires proves nothing).
	fired func(r *faultResult) string
	// check: extra assertions (all of them for custom rows).
	check func(t *testing.T, r, clean *faultResult)
	// leakCheck: goroutines must return to the level before the row.
	leakCheck bool
}

// faultResult is everything one pipeline run produced, read back after the
// server, the transport and the ledger were closed.
type faultResult struct {
	sim       *sherwebsim.Server
	customers []billing.Customer
	period    billing.Period
	run       ledger.Run
	err       error
	elapsed   time.Duration

	digest       string
	payLines     int
	recvLines    int
	payTypes     map[string]int      // chargeType → payable lines
	receivables  map[string][]string // customer → canonical receivable lines, sorted
	coverage     map[string]ledger.CustomerCoverage
	findRunErr   error
	reconcileErr error
	json         []byte // JSON summary file (complete and partial runs)
	stdoutJSON   []byte // the same written to "stdout"
	fetchSummary []byte // the `fetch --json` summary
	book         []byte // workbook bytes
	simStats     sherwebsim.Stats

	logs      string
	tokens    []string          // access tokens the simulator issued
	artefacts map[string][]byte // name → bytes, for the secret scan
}

// Credentials of every matrix run: recognisable, so that a leak is found by
// a plain byte search (secrets_test.go).
const (
	matrixClientID = "reconcile-matrix-client"
	secretClient   = "SECRET-client-secret-7f3a"
	secretKey      = "SECRET-subkey-91bd"
)

func matrixConfig() sherwebsim.Config {
	return sherwebsim.Config{
		Seed: 11, Customers: 20, Charges: 200,
		ClientID: matrixClientID, ClientSecret: secretClient, SubscriptionKey: secretKey,
	}
}

// lockedBuffer is a log sink shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tokenSpy records the access tokens the token endpoint hands out.
type tokenSpy struct {
	mu     sync.Mutex
	tokens []string
}

func (s *tokenSpy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != sherwebsim.PathToken {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &body) == nil && body.AccessToken != "" {
			s.mu.Lock()
			s.tokens = append(s.tokens, body.AccessToken)
			s.mu.Unlock()
		}
		copyResponse(w, rec, rec.Body.Bytes())
	})
}

func (s *tokenSpy) issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// rewriteBody applies fn to the successful responses of path (for one
// customer when customerID is set).
func rewriteBody(path, customerID string, fn func([]byte) []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path || (customerID != "" && !strings.EqualFold(r.URL.Query().Get("customerId"), customerID)) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = fn(body)
			}
			copyResponse(w, rec, body)
		})
	}
}

// replaceFirstValue replaces the value of the first member name (a JSON
// number) with value; value "" removes the member.
func replaceFirstValue(name, value string) func([]byte) []byte {
	re := regexp.MustCompile(`,"` + regexp.QuoteMeta(name) + `":-?[0-9][0-9.]*`)
	return func(b []byte) []byte {
		loc := re.FindIndex(b)
		if loc == nil {
			return b
		}
		repl := ""
		if value != "" {
			repl = `,"` + name + `":` + value
		}
		out := append([]byte(nil), b[:loc[0]]...)
		out = append(out, repl...)
		return append(out, b[loc[1]:]...)
	}
}

// runFault runs the whole pipeline once against a fresh simulator and ledger.
// The clean run is the row with no faults.
func runFault(t *testing.T, row faultRow) *faultResult {
	t.Helper()
	cfg := matrixConfig()
	probe := sherwebsim.New(cfg)
	cs := probe.Customers()
	if row.faults != nil {
		cfg.Faults = row.faults(cs)
	}
	if row.tokenTTL > 0 {
		cfg.TokenTTL = row.tokenTTL
	}
	sim := sherwebsim.New(cfg)
	spy := &tokenSpy{}
	var h http.Handler = sim
	if row.wrap != nil {
		h = row.wrap(cs)(h)
	}
	srv := httptest.NewServer(spy.wrap(h))
	defer srv.Close()

	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()

	// Nothing may hang: the whole run has a deadline far above any row.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := fetch.Config{
		BaseURL: srv.URL, ClientID: matrixClientID, ClientSecret: secretClient, SubscriptionKey: secretKey,
		HTTPClient:     &http.Client{Transport: tr},
		RequestTimeout: 5 * time.Second, TokenTimeout: 5 * time.Second,
		MaxAttempts: 10, MaxWait: 2 * time.Second, BaseBackoff: time.Millisecond,
		Logger: log,
	}
	if row.tune != nil {
		row.tune(&fc)
	}
	client, err := fetch.New(ctx, fc)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	dbDir := filepath.Join(dir, "db")
	outDir := filepath.Join(dir, "out")
	for _, d := range []string{dbDir, outDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	store, err := ledger.Open(ctx, filepath.Join(dbDir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	conc := row.concurrency
	if conc == 0 {
		conc = 8 // the tool's default
	}
	res := &faultResult{sim: sim, customers: cs, period: sim.DefaultPeriod(), artefacts: map[string][]byte{}}
	start := time.Now()
	res.run, res.err = job.Fetch(ctx, client, store, job.FetchOptions{
		Date: res.period.From, BaseURL: srv.URL, ToolVersion: "test", Concurrency: conc,
		Subscriptions: true, Now: fixedNow, Logger: log,
		Settings: []job.Setting{{Name: "concurrency", Value: fmt.Sprint(conc)}},
	})
	res.elapsed = time.Since(start)
	// The network part is over: close it now so that goroutine counts and
	// stalled handlers settle while the ledger is read.
	srv.Close()
	tr.CloseIdleConnections()
	res.simStats = sim.Stats()
	res.tokens = spy.issued()
	if res.run.ID == 0 {
		t.Fatalf("fetch made no run: %v", res.err)
	}

	if err := store.ForeignKeyCheck(ctx); err != nil {
		t.Errorf("after the fault: %v", err) // the bulk writers skip the row-by-row check
	}
	if res.digest, err = store.Digest(ctx, res.run.ID); err != nil {
		t.Fatal(err)
	}
	if res.payLines, res.recvLines, err = store.Counts(ctx, res.run.ID); err != nil {
		t.Fatal(err)
	}
	res.payTypes = map[string]int{}
	if err := store.EachPayable(ctx, res.run.ID, func(c *billing.PayableCharge) error {
		res.payTypes[c.ChargeType]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res.receivables = map[string][]string{}
	if err := store.EachReceivable(ctx, res.run.ID, func(id string, c *billing.ReceivableCharge) error {
		res.receivables[id] = append(res.receivables[id], receivableKey(c))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range res.receivables {
		sort.Strings(l)
	}
	cov, err := store.Coverage(ctx, res.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	res.coverage = map[string]ledger.CustomerCoverage{}
	for _, c := range cov {
		res.coverage[c.CustomerID] = c
	}
	_, res.findRunErr = store.FindRun(ctx, res.period.From)
	if sum, err := job.Summarize(ctx, store, res.run); err == nil {
		res.fetchSummary, _ = json.Marshal(sum)
	}

	rep, err := job.Reconcile(ctx, store, res.run, report.Options{})
	res.reconcileErr = err
	if err == nil {
		var stdout bytes.Buffer
		book, jsonPath := filepath.Join(outDir, "reconciliation.xlsx"), filepath.Join(outDir, "summary.json")
		rep.Info = job.RunInfo(res.run, []job.Setting{{Name: "tolerance", Value: "0.01"}})
		if err := job.WriteOutputs(ctx, rep, job.Outputs{Workbook: book, JSON: jsonPath}); err != nil {
			t.Fatalf("write outputs: %v", err)
		}
		if err := job.WriteOutputs(ctx, rep, job.Outputs{JSON: "-", Stdout: &stdout}); err != nil {
			t.Fatalf("write JSON to stdout: %v", err)
		}
		res.book = readFile(t, book)
		res.json = readFile(t, jsonPath)
		res.stdoutJSON = stdout.Bytes()
	}

	// Artefacts for the secret scan: the ledger files while open (WAL
	// included), then again after close (checkpointed), every output file,
	// the logs and every error text.
	addDir := func(prefix, d string) {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			res.artefacts[prefix+e.Name()] = b
		}
	}
	addDir("open:", dbDir)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	addDir("closed:", dbDir)
	addDir("out:", outDir)
	res.logs = logBuf.String()
	res.artefacts["logs"] = []byte(res.logs)
	res.artefacts["stdout"] = res.stdoutJSON
	res.artefacts["fetch summary"] = res.fetchSummary
	if res.err != nil {
		res.artefacts["error"] = []byte(res.err.Error())
	}
	res.artefacts["run"] = []byte(fmt.Sprintf("%+v", res.run))
	for id, c := range res.coverage {
		res.artefacts["coverage "+id] = []byte(c.Error)
	}
	return res
}

func receivableKey(c *billing.ReceivableCharge) string {
	nd := func(d decimal.NullDecimal) string {
		if !d.Valid {
			return "null"
		}
		return billing.Text(d.Decimal)
	}
	return strings.Join([]string{c.ChargeID, c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo),
		nd(c.Quantity), nd(c.CostPrice), nd(c.CostPriceProrated), c.Currency}, "|")
}

// matrixJSON is the part of the JSON summary the matrix compares.
type matrixJSON struct {
	Complete bool `json:"complete"`
	Coverage struct {
		Customers            int `json:"customers"`
		ReceivablesAvailable int `json:"receivables_available"`
		ReceivablesMissing   []struct {
			CustomerID string `json:"customer_id"`
			Reason     string `json:"reason"`
		} `json:"receivables_missing"`
	} `json:"coverage"`
	Totals     []struct{ Currency, Payable, Receivable string }
	Customers  []json.RawMessage `json:"customers"`
	Mismatches []json.RawMessage `json:"mismatches"`
}

// keyOf is what the matrix needs of a customer row or a finding.
type keyOf struct {
	CustomerID string `json:"customer_id"`
	Kind       string `json:"kind"`
	Currency   string `json:"currency"`
	Payable    string `json:"payable"`
	Receivable string `json:"receivable"`
	Reason     string `json:"reason"`
	// findings
	PayableAmount    string `json:"payable_amount"`
	ReceivableAmount string `json:"receivable_amount"`
}

func decodeMatrixJSON(t *testing.T, b []byte) matrixJSON {
	t.Helper()
	var s matrixJSON
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("JSON summary does not decode: %v", err)
	}
	return s
}

func key(t *testing.T, raw json.RawMessage) keyOf {
	t.Helper()
	var k keyOf
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkMissing asserts the report of a run where the customers in missing
// could not be used (reason fetch_failed or period_differs): they are listed
// as missing, get one missing_receivables finding each and no line finding,
// their payable amounts still count, and everything about the other
// customers equals the clean run.
func checkMissing(t *testing.T, r, clean *faultResult, missing []string, reason string, wantComplete bool) {
	t.Helper()
	if r.json == nil {
		t.Fatalf("no JSON summary (reconcile: %v)", r.reconcileErr)
	}
	got, want := decodeMatrixJSON(t, r.json), decodeMatrixJSON(t, clean.json)
	isMissing := map[string]bool{}
	for _, id := range missing {
		isMissing[strings.ToLower(id)] = true
	}
	if got.Complete != wantComplete {
		t.Errorf("JSON complete = %v, want %v", got.Complete, wantComplete)
	}
	if got.Coverage.Customers != want.Coverage.Customers ||
		got.Coverage.ReceivablesAvailable != want.Coverage.Customers-len(missing) {
		t.Errorf("coverage = %d customers, %d available; want %d, %d", got.Coverage.Customers,
			got.Coverage.ReceivablesAvailable, want.Coverage.Customers, want.Coverage.Customers-len(missing))
	}
	var gotMissing []string
	for _, m := range got.Coverage.ReceivablesMissing {
		gotMissing = append(gotMissing, strings.ToLower(m.CustomerID)+"|"+m.Reason)
	}
	var wantMissing []string
	for _, id := range missing {
		wantMissing = append(wantMissing, strings.ToLower(id)+"|"+reason)
	}
	testkit.ErrorMultisetDiff(t, "receivables_missing", gotMissing, wantMissing)

	// Customer rows of the clean run, by customer and currency.
	cleanRows := map[string]keyOf{}
	rowsOf := map[string]int{}
	for _, raw := range want.Customers {
		k := key(t, raw)
		if isMissing[strings.ToLower(k.CustomerID)] {
			cleanRows[strings.ToLower(k.CustomerID)+"|"+k.Currency] = k
			rowsOf[strings.ToLower(k.CustomerID)]++
		}
	}

	// Findings: one missing_receivables per missing customer and currency,
	// carrying its payable amount; no line finding for them; every other
	// finding exactly the clean run's.
	missingFindings := map[string]int{}
	var gotOther, wantOther []string
	for _, raw := range got.Mismatches {
		k := key(t, raw)
		if !isMissing[strings.ToLower(k.CustomerID)] {
			gotOther = append(gotOther, compact(t, raw))
			continue
		}
		switch k.Kind {
		case report.KindMissingReceivables:
			missingFindings[strings.ToLower(k.CustomerID)]++
			if k.Reason != reason {
				t.Errorf("missing_receivables for %s: reason %q, want %q", k.CustomerID, k.Reason, reason)
			}
			if c, ok := cleanRows[strings.ToLower(k.CustomerID)+"|"+k.Currency]; ok && !dec(t, k.PayableAmount).Equal(dec(t, c.Payable)) {
				t.Errorf("missing_receivables for %s %s: payable_amount %s, want the customer's payable %s", k.CustomerID, k.Currency, k.PayableAmount, c.Payable)
			}
			if !dec(t, k.ReceivableAmount).IsZero() {
				t.Errorf("missing_receivables for %s: receivable_amount %s, want 0", k.CustomerID, k.ReceivableAmount)
			}
		case report.KindUnbilled, report.KindQuantityMismatch, report.KindNegativeMargin, report.KindUnexpectedReceivable:
			t.Errorf("leakage invented from missing data: %s finding for customer %s", k.Kind, k.CustomerID)
		}
	}
	for _, id := range missing {
		if n, want := missingFindings[strings.ToLower(id)], max(1, rowsOf[strings.ToLower(id)]); n != want {
			t.Errorf("customer %s: %d missing_receivables findings, want %d (one per currency)", id, n, want)
		}
	}
	for _, raw := range want.Mismatches {
		if !isMissing[strings.ToLower(key(t, raw).CustomerID)] {
			wantOther = append(wantOther, compact(t, raw))
		}
	}
	testkit.ErrorMultisetDiff(t, "findings of the other customers", gotOther, wantOther)

	// Customer rows: the others unchanged; the missing ones keep their
	// payable amounts, and their receivables count nowhere.
	lost := map[string]string{} // currency → clean receivable of missing customers
	var gotRows, wantRows []string
	for _, raw := range want.Customers {
		k := key(t, raw)
		if isMissing[strings.ToLower(k.CustomerID)] {
			lost[k.Currency] = addText(t, lost[k.Currency], k.Receivable)
			continue
		}
		wantRows = append(wantRows, compact(t, raw))
	}
	for _, raw := range got.Customers {
		k := key(t, raw)
		if !isMissing[strings.ToLower(k.CustomerID)] {
			gotRows = append(gotRows, compact(t, raw))
			continue
		}
		c, ok := cleanRows[strings.ToLower(k.CustomerID)+"|"+k.Currency]
		if !ok {
			t.Errorf("customer row %s %s not in the clean run", k.CustomerID, k.Currency)
			continue
		}
		if !dec(t, k.Payable).Equal(dec(t, c.Payable)) {
			t.Errorf("customer %s %s payable = %s, want the clean %s", k.CustomerID, k.Currency, k.Payable, c.Payable)
		}
		if !dec(t, k.Receivable).IsZero() {
			t.Errorf("customer %s %s receivable = %s, want 0 (its receivables are not usable)", k.CustomerID, k.Currency, k.Receivable)
		}
	}
	testkit.ErrorMultisetDiff(t, "customer rows of the other customers", gotRows, wantRows)

	// Totals: payable unchanged, receivable less what the missing customers had.
	cleanTotals := map[string][2]string{}
	for _, tot := range want.Totals {
		cleanTotals[tot.Currency] = [2]string{tot.Payable, tot.Receivable}
	}
	if len(got.Totals) != len(want.Totals) {
		t.Errorf("totals in %d currencies, want %d", len(got.Totals), len(want.Totals))
	}
	for _, tot := range got.Totals {
		c, ok := cleanTotals[tot.Currency]
		if !ok {
			t.Errorf("unexpected total currency %s", tot.Currency)
			continue
		}
		if !dec(t, tot.Payable).Equal(dec(t, c[0])) {
			t.Errorf("%s payable total = %s, want the clean %s", tot.Currency, tot.Payable, c[0])
		}
		wantRecv := dec(t, c[1])
		if l := lost[tot.Currency]; l != "" {
			wantRecv = wantRecv.Sub(dec(t, l))
		}
		if !dec(t, tot.Receivable).Equal(wantRecv) {
			t.Errorf("%s receivable total = %s, want %s (clean less the missing customers)", tot.Currency, tot.Receivable, billing.Text(wantRecv))
		}
	}

	// The ledger: every other customer's receivables stored exactly.
	for id, lines := range clean.receivables {
		if isMissing[strings.ToLower(id)] {
			continue
		}
		if strings.Join(r.receivables[id], "\n") != strings.Join(lines, "\n") {
			t.Errorf("customer %s: stored receivables differ from the clean run (%d lines vs %d)", id, len(r.receivables[id]), len(lines))
		}
	}
	if r.payLines != clean.payLines {
		t.Errorf("payable lines = %d, want the clean %d", r.payLines, clean.payLines)
	}
}

func addText(t *testing.T, a, b string) string {
	t.Helper()
	if a == "" {
		return b
	}
	return billing.Text(dec(t, a).Add(dec(t, b)))
}

func checkOutcome(t *testing.T, row faultRow, r, clean *faultResult) {
	t.Helper()
	switch row.want {
	case recoverable:
		if r.err != nil || r.run.Status != billing.RunComplete {
			t.Fatalf("status %s, err %v; want complete", r.run.Status, r.err)
		}
		if r.digest != clean.digest {
			t.Errorf("ledger digest %s, want the clean run's %s", r.digest, clean.digest)
		}
		if !bytes.Equal(r.json, clean.json) {
			t.Errorf("JSON summary differs from the clean run's:\n%s", firstDiff(r.json, clean.json))
		}
		if r.findRunErr != nil {
			t.Errorf("FindRun: %v", r.findRunErr)
		}
	case incomplete:
		missing := row.missing(r.customers)
		if !errors.Is(r.err, job.ErrIncomplete) {
			t.Fatalf("err = %v, want ErrIncomplete", r.err)
		}
		if r.run.Status != billing.RunPartial {
			t.Fatalf("status = %s, want partial", r.run.Status)
		}
		if len(r.coverage) != len(r.customers) {
			t.Errorf("coverage rows = %d, want %d", len(r.coverage), len(r.customers))
		}
		bad := map[string]bool{}
		for _, id := range missing {
			bad[strings.ToLower(id)] = true
		}
		for id, c := range r.coverage {
			if !bad[strings.ToLower(id)] {
				if c.Coverage != billing.CoverageAvailable {
					t.Errorf("customer %s coverage = %s (%s), want available", id, c.Coverage, c.Error)
				}
				continue
			}
			if c.Coverage != billing.CoverageFetchFailed {
				t.Errorf("customer %s coverage = %s, want fetch_failed", id, c.Coverage)
			}
			for _, s := range append([]string{id, "receivable-charges"}, row.errHas...) {
				if !strings.Contains(c.Error, s) {
					t.Errorf("customer %s coverage error %q does not say %q", id, c.Error, s)
				}
			}
		}
		checkMissing(t, r, clean, missing, "fetch_failed", false)
		if r.findRunErr != nil {
			t.Errorf("FindRun of a partial run: %v (want the partial run when there is no complete one)", r.findRunErr)
		}
	case failed:
		if r.err == nil || r.run.Status != billing.RunFailed {
			t.Fatalf("status %s, err %v; want failed", r.run.Status, r.err)
		}
		if errors.Is(r.err, job.ErrIncomplete) {
			t.Errorf("a failed run's error wraps ErrIncomplete: %v", r.err)
		}
		for _, s := range row.errHas {
			if !strings.Contains(r.err.Error(), s) {
				t.Errorf("error %q does not say %q", r.err, s)
			}
			if !strings.Contains(r.run.Error, s) {
				t.Errorf("stored run error %q does not say %q", r.run.Error, s)
			}
		}
		if r.payLines != 0 || r.recvLines != 0 { // the customer list is fetched first: a failed run stores no line
			t.Errorf("a failed run shows %d payable and %d receivable lines, want none", r.payLines, r.recvLines)
		}
		if !errors.Is(r.findRunErr, ledger.ErrNotFound) {
			t.Errorf("FindRun after a failed run: %v, want ErrNotFound", r.findRunErr)
		}
		if r.reconcileErr == nil {
			t.Error("a failed run was reconciled")
		}
	}
}

func firstDiff(a, b []byte) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return fmt.Sprintf("at byte %d:\n got: %s\nwant: %s", i, a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
}

// Helpers to build rows.

func noFault(cs []billing.Customer) sherwebsim.Faults { return sherwebsim.Faults{} }

func faults(f sherwebsim.Faults) func([]billing.Customer) sherwebsim.Faults {
	return func([]billing.Customer) sherwebsim.Faults { return f }
}

func customerN(i int) func(cs []billing.Customer) []string {
	return func(cs []billing.Customer) []string { return []string{cs[i].ID} }
}

// fetchedN is the i-th customer the fan-out fetches (fetchOrder): with one
// call in flight, the one a fault counting calls hits.
func fetchedN(i int) func(cs []billing.Customer) []string {
	return func(cs []billing.Customer) []string { return []string{cs[job.FetchOrder(cs)[i]].ID} }
}

func needStat(what string, get func(sherwebsim.Stats) int, atLeast int) func(*faultResult) string {
	return func(r *faultResult) string {
		if n := get(r.simStats); n < atLeast {
			return fmt.Sprintf("simulator %s = %d, want ≥ %d", what, n, atLeast)
		}
		return ""
	}
}

func needRetries(atLeast int64) func(*faultResult) string {
	return func(r *faultResult) string {
		if r.run.Retries < atLeast {
			return fmt.Sprintf("client retries = %d, want ≥ %d", r.run.Retries, atLeast)
		}
		return ""
	}
}

// finishedQuickly: a Retry-After of an hour is not slept. The bound is
// generous (the run takes well under a second); it only catches a sleep.
func finishedQuickly(t *testing.T, r, _ *faultResult) {
	if r.elapsed > 30*time.Second {
		t.Errorf("run took %s: a long Retry-After was slept instead of failing fast", r.elapsed)
	}
}

// firstPayableID is the chargeId of the first payable line served.
func firstPayableID(sim *sherwebsim.Server) string {
	var id string
	errStop := errors.New("stop")
	_ = sim.EachPayable(sim.DefaultPeriod(), func(c *billing.PayableCharge) error {
		id = c.ChargeID
		return errStop
	})
	return id
}

// namesFirstCharge: the error names the corrupted charge by its id.
func namesFirstCharge(t *testing.T, r, _ *faultResult) {
	id := firstPayableID(r.sim)
	if id == "" {
		t.Log("first payable line has no chargeId; not checked")
		return
	}
	if r.err == nil || !strings.Contains(r.err.Error(), id) {
		t.Errorf("error %v does not name the charge %s", r.err, id)
	}
}

func faultRows() []faultRow {
	stall := func(c *fetch.Config) { c.RequestTimeout = time.Second }
	hourAhead := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	malformed := func(mode string) faultRow {
		return faultRow{
			name: "malformed payable " + mode, faults: faults(sherwebsim.Faults{MalformedPayable: mode}),
			want: failed, errHas: []string{"payable-charges"},
		}
	}
	badMoney := malformed("bad_money")
	badMoney.errHas = append(badMoney.errHas, "subTotal", "abc", "charge")
	nullMoney := malformed("null_money")
	nullMoney.errHas = append(nullMoney.errHas, "subTotal", "null or missing", "charge")
	badJSON := malformed("bad_json")
	badJSON.errHas = append(badJSON.errHas, "malformed JSON")

	// A decimal value the API must not send, put in the first payable line.
	payableDecimal := func(name, value string, errHas ...string) faultRow {
		return faultRow{
			name: "payable subTotal " + name,
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return rewriteBody(sherwebsim.PathPayable, "", replaceFirstValue("subTotal", value))
			},
			want: failed, errHas: append([]string{"payable-charges", "subTotal"}, errHas...),
			check: namesFirstCharge,
		}
	}

	return []faultRow{
		// F1: 429 storm, half the calls for 2.5 s, Retry-After: 1.
		{
			name: "429 storm", faults: faults(sherwebsim.Faults{StormFraction: 0.5, StormFor: 2500 * time.Millisecond, RetryAfter: "1"}),
			want: recoverable, fired: needStat("429s", func(s sherwebsim.Stats) int { return s.RateLimited }, 1),
		},
		{
			name: "429 with only the body's Try again in N seconds", faults: faults(sherwebsim.Faults{RateLimitEvery: 20, RetryAfter: ""}),
			want: recoverable, fired: needStat("429s", func(s sherwebsim.Stats) int { return s.RateLimited }, 1),
		},
		// F2: a Retry-After of an hour fails that request at once.
		{
			// Every call answers 429: the first one, the customer list
			// (fetched before the payable charges), fails the run.
			name: "Retry-After 3600 on the first call", faults: faults(sherwebsim.Faults{RateLimitEvery: 1, RetryAfter: "3600"}),
			want: failed, errHas: []string{"customers", "rate limited", "1h0m0s"}, check: finishedQuickly,
		},
		{
			// Sequential, so call 25 is deterministically the receivables of
			// customer 11 (calls: payable, customers, then receivables and
			// subscriptions of each customer in turn).
			name: "Retry-After 3600 on one customer", faults: faults(sherwebsim.Faults{RateLimitEvery: 25, RetryAfter: "3600"}),
			concurrency: 1, want: incomplete, missing: fetchedN(11), errHas: []string{"rate limited"}, check: finishedQuickly,
		},
		{
			name: "Retry-After HTTP-date an hour ahead on one customer", faults: faults(sherwebsim.Faults{RateLimitEvery: 25, RetryAfter: hourAhead}),
			concurrency: 1, want: incomplete, missing: fetchedN(11), errHas: []string{"rate limited"}, check: finishedQuickly,
		},
		// F3
		{
			name: "random 5xx", faults: faults(sherwebsim.Faults{Random5xx: 0.1}),
			want: recoverable, fired: needStat("5xx", func(s sherwebsim.Stats) int { return s.Errors5xx }, 1),
		},
		// F4
		{
			name: "customer failing once", faults: func(cs []billing.Customer) sherwebsim.Faults {
				return sherwebsim.Faults{FailCustomerOnce: []string{cs[2].ID}}
			},
			want: recoverable, fired: needStat("5xx", func(s sherwebsim.Stats) int { return s.Errors5xx }, 1),
		},
		{
			name: "customer failing persistently", faults: func(cs []billing.Customer) sherwebsim.Faults {
				return sherwebsim.Faults{FailCustomerAlways: []string{cs[5].ID}}
			},
			want: incomplete, missing: customerN(5), errHas: []string{"503"},
		},
		// F5: stalls, with a 1 s per-request timeout.
		{
			name: "stall before headers", faults: faults(sherwebsim.Faults{StallBeforeHeaders: 3 * time.Second}), tune: stall,
			want: recoverable, fired: needRetries(4), leakCheck: true,
		},
		{
			name: "stall mid-body", faults: faults(sherwebsim.Faults{StallMidBody: 3 * time.Second}), tune: stall,
			want: recoverable, fired: needRetries(1), leakCheck: true,
		},
		// F6
		{
			name: "truncated payable once", faults: faults(sherwebsim.Faults{TruncatePayable: "once"}),
			want: recoverable, fired: needStat("truncated bodies", func(s sherwebsim.Stats) int { return s.Truncated }, 1),
		},
		{
			name: "truncated payable always", faults: faults(sherwebsim.Faults{TruncatePayable: "always"}),
			want: failed, errHas: []string{"payable-charges", "giving up after 10 attempts"},
			fired: needStat("truncated bodies", func(s sherwebsim.Stats) int { return s.Truncated }, 10),
		},
		{
			name: "truncated receivables once", faults: func(cs []billing.Customer) sherwebsim.Faults {
				return sherwebsim.Faults{TruncateReceivable: []string{cs[3].ID, cs[7].ID}}
			},
			want: recoverable, fired: needStat("truncated bodies", func(s sherwebsim.Stats) int { return s.Truncated }, 2),
		},
		// F7: malformed and absent decimals fail the run, naming the field
		// and the charge; null and absent never become zero.
		badMoney, nullMoney, badJSON,
		payableDecimal("absent", "", "null or missing"),
		payableDecimal(`"1,000.00"`, `"1,000.00"`, "1,000.00"),
		payableDecimal(`"NaN"`, `"NaN"`, "NaN"),
		payableDecimal(`""`, `""`),
		payableDecimal("true", "true", "true"),
		{
			// An open enum: accepted and stored as sent.
			name: "unknown chargeType", faults: faults(sherwebsim.Faults{MalformedPayable: "unknown_enum"}),
			want: custom, check: func(t *testing.T, r, clean *faultResult) {
				if r.err != nil || r.run.Status != billing.RunComplete {
					t.Fatalf("status %s, err %v; want complete", r.run.Status, r.err)
				}
				if r.payTypes["Promotion"] == 0 {
					t.Errorf("no payable line stored with chargeType Promotion (types %v)", r.payTypes)
				}
				truth := r.sim.Truth(r.period)
				if r.payLines != truth.PayableLines {
					t.Errorf("payable lines = %d, want %d", r.payLines, truth.PayableLines)
				}
				got := decodeMatrixJSON(t, r.json)
				for _, tot := range got.Totals {
					if !dec(t, tot.Payable).Equal(truth.PayableTotals[tot.Currency]) {
						t.Errorf("%s payable total = %s, want %s", tot.Currency, tot.Payable, billing.Text(truth.PayableTotals[tot.Currency]))
					}
				}
			},
		},
		{
			// Absent money in one customer's receivables: that customer is
			// missing (never zero), the run is incomplete.
			name: "receivable costPriceProrated absent", want: incomplete, missing: customerN(4),
			wrap: func(cs []billing.Customer) func(http.Handler) http.Handler {
				return rewriteBody(sherwebsim.PathReceivable, cs[4].ID, replaceFirstValue("costPriceProrated", ""))
			},
			errHas: []string{"costPriceProrated", "null or missing"},
		},
		{
			name: "receivable quantity NaN", want: incomplete, missing: customerN(6),
			wrap: func(cs []billing.Customer) func(http.Handler) http.Handler {
				return rewriteBody(sherwebsim.PathReceivable, cs[6].ID, replaceFirstValue("quantity", `"NaN"`))
			},
			errHas: []string{"quantity", "NaN"},
		},
		// F8: tokens living 2 s (refreshed at half-life) over a run of
		// several seconds.
		{
			name: "token expiring mid-run", tokenTTL: 2 * time.Second,
			faults: faults(sherwebsim.Faults{Latency: 400 * time.Millisecond}),
			want:   recoverable,
			fired: func(r *faultResult) string {
				// Two scopes; each renews about every TTL/2 = 1 s.
				perScope := int(r.elapsed/time.Second) + 4
				if n := r.simStats.TokenRequests; n > 2*perScope {
					return fmt.Sprintf("%d token requests over %s, want ≤ %d", n, r.elapsed, 2*perScope)
				}
				if r.simStats.TokenRequests < 4 {
					return fmt.Sprintf("only %d token requests over %s: the tokens never expired", r.simStats.TokenRequests, r.elapsed)
				}
				return ""
			},
		},
		// F9
		{
			name: "tokens revoked early", faults: faults(sherwebsim.Faults{RevokeTokensAfter: 5}),
			want: recoverable, fired: needStat("401s", func(s sherwebsim.Stats) int { return s.Unauthorized }, 1),
		},
		// F10
		{
			name: "token endpoint 503 twice", faults: faults(sherwebsim.Faults{TokenFailures: 2}),
			want: recoverable, fired: needStat("token requests", func(s sherwebsim.Stats) int { return s.TokenRequests }, 4),
		},
		{
			name: "slow token endpoint within its timeout", faults: faults(sherwebsim.Faults{TokenLatency: 300 * time.Millisecond}),
			tune: func(c *fetch.Config) { c.TokenTimeout = 2 * time.Second }, want: recoverable,
		},
		{
			name: "token endpoint slower than its timeout", faults: faults(sherwebsim.Faults{TokenLatency: time.Second}),
			tune: func(c *fetch.Config) { c.TokenTimeout = 300 * time.Millisecond; c.MaxAttempts = 3 },
			// The first token is the customer list's (Service Provider API).
			want: failed, errHas: []string{"customers", "get access token", "service-provider"},
			fired: needStat("token requests", func(s sherwebsim.Stats) int { return s.TokenRequests }, 3),
			check: finishedQuickly,
		},
		// Coverage: a period that differs is missing, but the run complete.
		{
			name: "receivables of another period", want: custom,
			faults: func(cs []billing.Customer) sherwebsim.Faults {
				return sherwebsim.Faults{PeriodDiffersFor: []string{cs[8].ID}}
			},
			check: func(t *testing.T, r, clean *faultResult) {
				if r.err != nil || r.run.Status != billing.RunComplete {
					t.Fatalf("status %s, err %v; want complete", r.run.Status, r.err)
				}
				id := r.customers[8].ID
				if c := r.coverage[id]; c.Coverage != billing.CoveragePeriodDiffers {
					t.Errorf("customer %s coverage = %s, want period_differs", id, c.Coverage)
				}
				checkMissing(t, r, clean, []string{id}, "period_differs", true)
			},
		},
	}
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix: about 20 s")
	}
	clean := runFault(t, faultRow{name: "clean", faults: noFault})
	if clean.err != nil || clean.run.Status != billing.RunComplete || clean.json == nil {
		t.Fatalf("clean run: status %s, err %v", clean.run.Status, clean.err)
	}
	assertNoSecrets(t, "clean", clean)
	for _, row := range faultRows() {
		t.Run(row.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			r := runFault(t, row)
			t.Logf("%s: status %s in %s, %d calls, %d retries, sim %+v", row.want, r.run.Status,
				r.elapsed.Round(time.Millisecond), r.run.Calls, r.run.Retries, statsLine(r.simStats))
			if row.fired != nil {
				if msg := row.fired(r); msg != "" {
					t.Errorf("fault did not fire as intended: %s", msg)
				}
			}
			checkOutcome(t, row, r, clean)
			if row.check != nil {
				row.check(t, r, clean)
			}
			assertNoSecrets(t, row.name, r)
			if row.leakCheck {
				checkGoroutines(t, before)
			}
		})
	}
}

func statsLine(s sherwebsim.Stats) string {
	return fmt.Sprintf("calls=%d tokens=%d 429=%d 5xx=%d 401=%d truncated=%d",
		s.Calls, s.TokenRequests, s.RateLimited, s.Errors5xx, s.Unauthorized, s.Truncated)
}

// checkGoroutines waits (up to a few seconds) for the goroutine count to come
// back to about what it was before the row: stalled requests must not leave
// goroutines behind once the server and the idle connections are closed.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	const slack = 3
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > before+slack && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before+slack {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1) // into a strings.Builder: cannot fail
		s := b.String()
		if len(s) > 8000 {
			s = s[:8000] + "…"
		}
		t.Errorf("goroutine leak: %d goroutines after the run, %d before\n%s", n, before, s)
	}
}
