package main

// Exactly once under crashes: `reconcile amend apply --yes` is killed with
// SIGKILL at seeded points around its POSTs, then re-run. No entry may be
// submitted twice (the simulator counts accepted entries per subscription),
// and none may be lost silently: each ends applied (and the simulator has
// the new quantity) or is reported `unknown` for a person.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/amend"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

type amendPhase string

const (
	killBeforePost   amendPhase = "before-post"   // at the apply's subscriptions re-read: nothing sent yet
	killPostReceived amendPhase = "post-received" // the POST reached the server, nothing decided yet
	killPostAccepted amendPhase = "post-accepted" // the server applied it; the answer is not written yet
	killPostAnswered amendPhase = "post-answered" // the answer was written; the id may not be recorded yet
	killPolling      amendPhase = "polling"       // at a status poll
)

// amendCrashEnv is one simulator, one ledger and one plan.
type amendCrashEnv struct {
	t    *testing.T
	sim  *sherwebsim.Server
	env  []string
	db   string
	plan string
	p    amend.Plan

	mu    sync.Mutex
	child *exec.Cmd
	done  chan struct{}
	phase amendPhase
	atN   int // kill at the Nth event of the phase
	delay time.Duration
	seen  int
	fired bool
}

func newAmendCrashEnv(t *testing.T) *amendCrashEnv {
	t.Helper()
	sim := sherwebsim.New(sherwebsim.Config{Seed: 3, Customers: 8, Charges: 64})
	e := &amendCrashEnv{t: t, sim: sim}
	srv := httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	e.db, e.plan = dbtest.DB(t), filepath.Join(dir, "plan.json")
	e.env = append(os.Environ(), testMainEnv+"=1", "SHERWEB_BASE_URL="+srv.URL, "SHERWEB_CLIENT_ID=sim-client",
		"SHERWEB_CLIENT_SECRET=sim-secret", "SHERWEB_SUBSCRIPTION_KEY=sim-key", "RECONCILE_DB=")
	// A hand-made plan (increases: no committed minimum can refuse them):
	// three customers, the first with two entries.
	p := amend.Plan{Version: amend.PlanVersion, RunID: 1, PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31"}
	n := 0
	for _, c := range sim.Customers() {
		subs := sim.Subscriptions(c.ID)
		if len(subs) == 0 || (n == 0 && len(subs) < 2) {
			continue
		}
		take := 1
		if n == 0 {
			take = 2
		}
		for _, s := range subs[:take] {
			p.Entries = append(p.Entries, amend.Entry{CustomerID: c.ID, SubscriptionID: s.ID, SKU: s.SKU,
				CurrentQuantity: s.Quantity, NewQuantity: s.Quantity + 3, Reason: "test"})
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatal("simulator has too few customers with subscriptions")
	}
	p.Hash = amend.Hash(p.Entries)
	e.p = p
	var b bytes.Buffer
	if err := writePlanJSON(&b, &p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.plan, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sim.SetAmendFaults(sherwebsim.AmendFaults{OnPost: e.onPost})
	return e
}

// maybeKill kills the child when phase is the armed one, at its Nth event.
func (e *amendCrashEnv) maybeKill(phase amendPhase) {
	e.mu.Lock()
	if e.fired || e.phase != phase || e.child == nil {
		e.mu.Unlock()
		return
	}
	e.seen++
	if e.seen != e.atN {
		e.mu.Unlock()
		return
	}
	e.fired = true
	child, done, delay := e.child, e.done, e.delay
	e.mu.Unlock()
	time.Sleep(delay)
	_ = child.Process.Signal(syscall.SIGKILL) // it may have exited already
	<-done
}

func (e *amendCrashEnv) onPost(stage string) {
	switch stage {
	case "received":
		e.maybeKill(killPostReceived)
	case "accepted":
		e.maybeKill(killPostAccepted)
	}
}

func (e *amendCrashEnv) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == sherwebsim.PathSubs:
		e.maybeKill(killBeforePost)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/status"):
		e.maybeKill(killPolling)
	}
	e.sim.ServeHTTP(w, r)
	if r.Method == http.MethodPost && r.URL.Path == sherwebsim.PathAmendments {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go e.maybeKill(killPostAnswered) // the answer is on its way; the child races to record it
	}
}

// apply runs `amend apply` in a child process; it returns its exit code and
// output, and whether it was killed.
func (e *amendCrashEnv) apply(arm bool) (code int, out string, killed bool) {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "amend", "apply", e.plan, "--yes", "--db", e.db, "--poll-interval", "1ms", "--poll-deadline", "1m")
	cmd.Env = e.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan struct{})
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// Published after Start (which sets cmd.Process), before the child can
	// have made a request worth killing at.
	e.mu.Lock()
	e.child, e.done = cmd, done
	if !arm {
		e.fired = true
	}
	e.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		e.t.Fatalf("amend apply did not finish\nstderr: %s", stderr.String())
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return cmd.ProcessState.ExitCode(), stdout.String() + stderr.String(), ws.Signaled()
}

// states parses the result table of amend apply: subscription -> state.
func states(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] != "CUSTOMER" && len(f[1]) == 36 {
			m[strings.ToLower(f[1])] = f[5]
		}
	}
	return m
}

func TestAmendApplyCrashExactlyOnce(t *testing.T) {
	seed := uint64(20261101)
	rng := rand.New(rand.NewPCG(seed, seed))
	phases := []amendPhase{killBeforePost, killPostReceived, killPostAccepted, killPostAnswered, killPolling}
	points := 10
	if raceBuild() || dbtest.Backend() == dbtest.Postgres {
		points = 5 // one per phase
	}
	t.Logf("seed %d, %d kill points", seed, points)
	for i := 0; i < points; i++ {
		phase := phases[i%len(phases)]
		atN := 1 + rng.IntN(3) // which POST (customer), status poll or subscriptions read
		delay := time.Duration(rng.IntN(3)) * time.Millisecond
		t.Run(fmt.Sprintf("%02d-%s-%d", i, phase, atN), func(t *testing.T) {
			e := newAmendCrashEnv(t)
			e.phase, e.atN, e.delay = phase, atN, delay
			_, out1, killed := e.apply(true)
			if !killed {
				t.Logf("the kill point was not reached (the first apply finished):\n%s", out1)
			}
			code, out, _ := e.apply(false)
			st := states(out)
			stats := e.sim.AmendStats()
			now := map[string]int64{}
			for _, c := range e.sim.Customers() {
				for _, s := range e.sim.Subscriptions(c.ID) {
					now[s.ID] = s.Quantity
				}
			}
			unknown := 0
			for _, en := range e.p.Entries {
				sid := strings.ToLower(en.SubscriptionID)
				if n := stats.Entries[sid]; n > 1 {
					t.Errorf("subscription %s was submitted %d times", sid, n)
				}
				switch s := st[sid]; s {
				case "Success", "applied":
					if now[sid] != en.NewQuantity {
						t.Errorf("subscription %s reported %s but its quantity is %d, want %d", sid, s, now[sid], en.NewQuantity)
					}
				case "unknown":
					unknown++
				default:
					t.Errorf("subscription %s ended %q (want Success, applied or unknown)\n%s", sid, s, out)
				}
			}
			if unknown > 0 && code == 0 {
				t.Errorf("unknown entries but exit 0")
			}
			if unknown > 0 && (phase == killBeforePost || phase == killPolling) {
				t.Errorf("phase %s left %d unknown entries\n%s", phase, unknown, out)
			}
			// A third apply sends nothing more.
			posts := e.sim.AmendStats().Posts
			e.apply(false)
			if got := e.sim.AmendStats().Posts; got != posts {
				t.Errorf("a third apply posted %d more time(s)", got-posts)
			}
		})
	}
}

func TestAmendApplyRefusesWithoutTerminalAndDryRunSendsNothing(t *testing.T) {
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 64})
	dir := t.TempDir()
	db := dbtest.DB(t)
	var c string
	var s sherwebsim.SubscriptionTruth
	for _, cu := range sim.Customers() {
		if subs := sim.Subscriptions(cu.ID); len(subs) > 0 {
			c, s = cu.ID, subs[0]
			break
		}
	}
	p := amend.Plan{Version: amend.PlanVersion, Entries: []amend.Entry{{CustomerID: c, SubscriptionID: s.ID, SKU: s.SKU,
		CurrentQuantity: s.Quantity, NewQuantity: s.Quantity + 1}}}
	p.Hash = amend.Hash(p.Entries)
	var b bytes.Buffer
	_ = writePlanJSON(&b, &p)
	plan := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(plan, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "amend", "apply", plan, "--db", db)
	if code != exitUsage || !strings.Contains(stderr, "--yes") {
		t.Errorf("apply without a terminal and without --yes: exit %d, %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "amend", "apply", plan, "--db", db, "--dry-run")
	if code != 0 || !strings.Contains(stdout, `"subscriptionAmendmentParameters"`) || !strings.Contains(stdout, "dry-run") {
		t.Errorf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st := sim.AmendStats(); st.Posts != 0 {
		t.Errorf("%d POSTs without --yes or with --dry-run", st.Posts)
	}
	// The read commands never write to Sherweb.
	out := filepath.Join(dir, "close.xlsx")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", out); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "fetch", "--period", "2026-10", "--db", db); code != 0 {
		t.Fatalf("fetch: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "amend", "plan", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "p2.json")); code != 0 {
		t.Fatalf("amend plan: exit %d: %s", code, stderr)
	}
	csvPlan := filepath.Join(dir, "p2.csv")
	if code, _, stderr := runCLI(t, "amend", "plan", "--period", "2026-10", "--db", db, "--format", "csv", "--out", csvPlan); code != 0 {
		t.Fatalf("amend plan --format csv: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(csvPlan); err != nil || !strings.HasPrefix(string(b), "customer_id,subscription_id,sku,product,current_quantity,new_quantity,reason,guards\n") || strings.Count(string(b), "\n") < 2 {
		t.Errorf("CSV plan: %v\n%s", err, b)
	}
	st := sim.Stats()
	for path, n := range st.Paths {
		if strings.HasPrefix(path, sherwebsim.PathAmendments) {
			t.Errorf("%d call(s) to %s during run/fetch/report/plan", n, path)
		}
	}
	if as := sim.AmendStats(); as.Posts != 0 {
		t.Errorf("%d amendment POSTs during run/fetch/report/plan", as.Posts)
	}
}
