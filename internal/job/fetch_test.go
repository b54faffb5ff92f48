package job_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC) }

// env is one simulator served over real HTTP plus a ledger file.
type env struct {
	sim   *sherwebsim.Server
	url   string
	store *ledger.Store
}

func newEnv(t testing.TB, cfg sherwebsim.Config) *env {
	t.Helper()
	sim := sherwebsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &env{sim: sim, url: srv.URL, store: openStore(t)}
}

func openStore(t testing.TB) *ledger.Store {
	t.Helper()
	s, err := ledger.Open(context.Background(), dbtest.DB(t), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The bulk writers skip SQLite's row-by-row reference checks: check
		// every reference of what the test wrote.
		if err := s.ForeignKeyCheck(context.Background()); err != nil {
			t.Error(err)
		}
		s.Close()
	})
	return s
}

func (e *env) client(t testing.TB, ctx context.Context) *fetch.Client {
	t.Helper()
	c, err := fetch.New(ctx, fetch.Config{
		BaseURL: e.url, ClientID: "sim-client", ClientSecret: "sim-secret", SubscriptionKey: "sim-key",
		MaxAttempts: 6, MaxWait: 2 * time.Second, BaseBackoff: time.Millisecond, RequestTimeout: 10 * time.Second,
		// Retry-After waits are honoured by the client; the simulator's are short.
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) fetch(t *testing.T) (ledger.Run, error) {
	t.Helper()
	ctx := context.Background()
	p := e.sim.DefaultPeriod()
	return job.Fetch(ctx, e.client(t, ctx), e.store, job.FetchOptions{
		Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Concurrency: 4, Subscriptions: true, Now: fixedNow,
	})
}

func baseConfig() sherwebsim.Config {
	return sherwebsim.Config{Seed: 7, Customers: 30, Charges: 300}
}

func TestFetchMatchesGeneratorTruth(t *testing.T) {
	e := newEnv(t, baseConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if run.Status != "complete" {
		t.Fatalf("status = %s, want complete", run.Status)
	}
	truth := e.sim.Truth(e.sim.DefaultPeriod())
	if !run.Period.Equal(truth.Period) {
		t.Errorf("period = %s, want %s", run.Period, truth.Period)
	}
	sum, err := job.Summarize(context.Background(), e.store, run)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Payable.Lines != truth.PayableLines {
		t.Errorf("payable lines = %d, want %d", sum.Payable.Lines, truth.PayableLines)
	}
	if sum.Receivable.Lines != truth.ReceivableLines {
		t.Errorf("receivable lines = %d, want %d", sum.Receivable.Lines, truth.ReceivableLines)
	}
	if sum.Coverage.Customers != len(truth.Customers) || sum.Coverage.ReceivablesAvailable != len(truth.Customers) {
		t.Errorf("customers = %d (available %d), want %d", sum.Coverage.Customers, sum.Coverage.ReceivablesAvailable, len(truth.Customers))
	}
	assertTotals(t, sum, truth.PayableTotals)
}

func assertTotals(t *testing.T, sum *job.FetchSummary, want map[string]decimal.Decimal) {
	t.Helper()
	if len(sum.Payable.Totals) != len(want) {
		t.Errorf("payable totals in %d currencies, want %d", len(sum.Payable.Totals), len(want))
	}
	for _, tot := range sum.Payable.Totals {
		w, ok := want[tot.Currency]
		if !ok {
			t.Errorf("unexpected currency %s", tot.Currency)
			continue
		}
		got, err := decimal.NewFromString(tot.Amount)
		if err != nil || !got.Equal(w) {
			t.Errorf("payable total %s = %s, want %s", tot.Currency, tot.Amount, billing.Text(w))
		}
	}
}

// A fetch through 429s, a customer failing once and a revoked token stores
// exactly what a clean fetch stores.
func TestFetchRecoversFromFaults(t *testing.T) {
	clean := newEnv(t, baseConfig())
	cleanRun, err := clean.fetch(t)
	if err != nil {
		t.Fatalf("clean fetch: %v", err)
	}
	want, err := clean.store.Digest(context.Background(), cleanRun.ID)
	if err != nil {
		t.Fatal(err)
	}

	cfg := baseConfig()
	custs := clean.sim.Customers()
	cfg.Faults = sherwebsim.Faults{
		RateLimitEvery:    5,
		RetryAfter:        "0",
		FailCustomerOnce:  []string{custs[2].ID},
		RevokeTokensAfter: 12,
	}
	faulty := newEnv(t, cfg)
	run, err := faulty.fetch(t)
	if err != nil {
		t.Fatalf("fetch with faults: %v", err)
	}
	if run.Status != "complete" {
		t.Fatalf("status = %s, want complete", run.Status)
	}
	if run.Retries == 0 {
		t.Errorf("retries = 0, want > 0 with a 429 every 5th call")
	}
	got, err := faulty.store.Digest(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("digest after faults = %s, want clean %s", got, want)
	}
	st := faulty.sim.Stats()
	if st.RateLimited == 0 || st.Unauthorized == 0 {
		t.Errorf("simulator stats %+v: expected 429s and 401s to have happened", st)
	}
}

func TestFetchCustomerFailingAlwaysIsPartial(t *testing.T) {
	cfg := baseConfig()
	probe := sherwebsim.New(cfg)
	bad := probe.Customers()[3].ID
	cfg.Faults.FailCustomerAlways = []string{bad}
	e := newEnv(t, cfg)
	run, err := e.fetch(t)
	if !errors.Is(err, job.ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if run.Status != "partial" {
		t.Fatalf("status = %s, want partial", run.Status)
	}
	cov, err := e.store.Coverage(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	truth := e.sim.Truth(e.sim.DefaultPeriod())
	if len(cov) != len(truth.Customers) {
		t.Fatalf("coverage rows = %d, want %d", len(cov), len(truth.Customers))
	}
	wantLines := 0
	for _, c := range truth.Customers {
		if c.ID != bad {
			wantLines += len(e.sim.Receivables(c.ID, truth.Period))
		}
	}
	for _, c := range cov {
		want := billing.CoverageAvailable
		if c.CustomerID == bad {
			want = "fetch_failed"
			if !strings.Contains(c.Error, "503") {
				t.Errorf("coverage error %q does not name the 503", c.Error)
			}
		}
		if c.Coverage != want {
			t.Errorf("customer %s coverage = %s, want %s", c.CustomerID, c.Coverage, want)
		}
	}
	_, recv, err := e.store.Counts(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if recv != wantLines {
		t.Errorf("stored receivable lines = %d, want %d (every other customer)", recv, wantLines)
	}
}

func TestFetchTruncatedPayableFails(t *testing.T) {
	cfg := baseConfig()
	cfg.Faults.TruncatePayable = "always"
	e := newEnv(t, cfg)
	run, err := e.fetch(t)
	if err == nil {
		t.Fatal("fetch succeeded on a truncated payable body")
	}
	if !strings.Contains(err.Error(), "payable-charges") {
		t.Errorf("error %q does not name the payable endpoint", err)
	}
	if run.Status != "failed" {
		t.Errorf("status = %s, want failed", run.Status)
	}
	pay, _, err := e.store.Counts(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pay != 0 {
		t.Errorf("%d payable lines visible for a failed run, want 0", pay)
	}
	if _, err := e.store.FindRun(context.Background(), e.sim.DefaultPeriod().From); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("FindRun after a failed fetch: err = %v, want ErrNotFound", err)
	}
}

func TestFetchTruncatedOnceRecovers(t *testing.T) {
	cfg := baseConfig()
	cfg.Faults.TruncatePayable = "once"
	e := newEnv(t, cfg)
	run, err := e.fetch(t)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	truth := e.sim.Truth(e.sim.DefaultPeriod())
	pay, _, _ := e.store.Counts(context.Background(), run.ID)
	if pay != truth.PayableLines {
		t.Errorf("payable lines = %d, want %d (no duplicates from the cut attempt)", pay, truth.PayableLines)
	}
}
