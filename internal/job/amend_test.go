package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/amend"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

const afterMinimums = billing.Date("2026-11-02") // the simulator's committed minimums end on the 8th of the period

func (e *env) apply(t *testing.T, p amend.Plan, today billing.Date, mod func(*job.ApplyOptions)) ([]job.EntryResult, error) {
	t.Helper()
	ctx := context.Background()
	o := job.ApplyOptions{Ledger: e.store, Client: e.client(t, ctx), Plan: p, Today: today, Actor: "tester", Now: fixedNow,
		Confirm:      func([]amend.Entry) (bool, error) { return true, nil },
		PollInterval: time.Millisecond, PollDeadline: time.Hour, Sleep: func(context.Context, time.Duration) error { return nil }}
	if mod != nil {
		mod(&o)
	}
	return job.AmendApply(ctx, o)
}

func (e *env) plan(t *testing.T, run ledger.Run, today billing.Date) amend.Plan {
	t.Helper()
	p, err := job.AmendPlan(context.Background(), e.store, run, today, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func positiveFindings(t *testing.T, e *env, run ledger.Run) []report.LicenceFinding {
	t.Helper()
	in, err := job.LicenceInput(context.Background(), e.store, run)
	if err != nil {
		t.Fatal(err)
	}
	var out []report.LicenceFinding
	for _, f := range report.LicenceCheck(run.Period.To, in) {
		if f.Excess.IsPositive() {
			out = append(out, f)
		}
	}
	return out
}

func TestAmendPlanApplyEndToEnd(t *testing.T) {
	e := newEnv(t, baseConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	before := positiveFindings(t, e, run)
	p := e.plan(t, run, afterMinimums)
	if len(p.Entries) == 0 || len(before) == 0 {
		t.Fatalf("want planted seats paid and not billed: %d findings, %d entries", len(before), len(p.Entries))
	}
	res, err := e.apply(t, p, afterMinimums, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.State != "Success" || r.AmendmentID == "" {
			t.Errorf("entry %s: %s %q", r.Entry.SubscriptionID, r.State, r.Detail)
		}
	}
	st := e.sim.AmendStats()
	for _, en := range p.Entries {
		if n := st.Entries[strings.ToLower(en.SubscriptionID)]; n != 1 {
			t.Errorf("subscription %s submitted %d times", en.SubscriptionID, n)
		}
	}
	// The next fetch sees the new quantities; the findings are gone.
	run2, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	if after := positiveFindings(t, e, run2); len(after) != 0 {
		t.Errorf("findings left after the amendments: %+v", after)
	}
	// The report of the new run: no licence finding of seats paid and not
	// billed; the Amendments sheet's rows are the period's log.
	rec, err := job.Reconcile(context.Background(), e.store, run2, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rec.Result.Mismatches {
		if m.Kind == report.KindLicenceMismatch && m.PayableQty.GreaterThan(m.ReceivableQty) {
			t.Errorf("licence finding left in the report: %+v", m)
		}
	}
	if rec.Result.Subscriptions == nil || len(rec.Result.Subscriptions.Amendments) < 4*len(p.Entries) {
		t.Errorf("report's amendments log: %+v", rec.Result.Subscriptions)
	}
	if p2 := e.plan(t, run2, afterMinimums); len(p2.Entries) != 0 {
		t.Errorf("a new plan still proposes %d entries", len(p2.Entries))
	}
	// Applying the same plan again sends nothing.
	posts := e.sim.AmendStats().Posts
	res, err = e.apply(t, p, afterMinimums, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sim.AmendStats().Posts; got != posts {
		t.Errorf("re-apply posted %d more time(s)", got-posts)
	}
	for _, r := range res {
		if r.State != "Success" {
			t.Errorf("re-apply: entry %s is %s", r.Entry.SubscriptionID, r.State)
		}
	}
	// The log is append-only and has intent, submitted, statuses and an outcome per entry.
	events, err := e.store.AmendmentLog(context.Background(), string(run.Period.From))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ev := range events {
		kinds[ev.Event]++
	}
	n := len(p.Entries)
	if kinds["intent"] != n || kinds["submitted"] != n || kinds["outcome"] != n || kinds["status"] < n {
		t.Errorf("log events %v for %d entries", kinds, n)
	}
}

// subsWithSiblings returns a customer with at least n subscriptions.
func subsWithSiblings(t *testing.T, sim *sherwebsim.Server, n int, skip map[string]bool) (string, []sherwebsim.SubscriptionTruth) {
	t.Helper()
	for _, c := range sim.Customers() {
		if skip[c.ID] {
			continue
		}
		if s := sim.Subscriptions(c.ID); len(s) >= n {
			return c.ID, s
		}
	}
	t.Fatalf("no customer with %d subscriptions", n)
	return "", nil
}

func handPlan(customer string, subs ...sherwebsim.SubscriptionTruth) amend.Plan {
	p := amend.Plan{Version: amend.PlanVersion, RunID: 1, PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31"}
	for _, s := range subs {
		p.Entries = append(p.Entries, amend.Entry{CustomerID: customer, SubscriptionID: s.ID, SKU: s.SKU,
			CurrentQuantity: s.Quantity, NewQuantity: s.Quantity + 1})
	}
	return p
}

func TestAmendOutcomesRecorded(t *testing.T) {
	e := newEnv(t, baseConfig())
	used := map[string]bool{}
	ca, sa := subsWithSiblings(t, e.sim, 2, used)
	used[ca] = true
	cb, sb := subsWithSiblings(t, e.sim, 1, used)
	used[cb] = true
	cc, sc := subsWithSiblings(t, e.sim, 1, used)
	e.sim.SetAmendOutcomes([]string{sa[0].ID, sb[0].ID}, []string{sc[0].ID})
	for _, tc := range []struct {
		plan amend.Plan
		want string
	}{
		{handPlan(ca, sa[0], sa[1]), "PartialSuccess"},
		{handPlan(cb, sb[0]), "Failure"},
		{handPlan(cc, sc[0]), "Canceled"},
	} {
		res, err := e.apply(t, tc.plan, afterMinimums, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.State != tc.want {
				t.Errorf("%s: entry %s is %s, want %s", tc.want, r.Entry.SubscriptionID, r.State, tc.want)
			}
		}
	}
	now := e.sim.Subscriptions(ca)
	if now[0].Quantity != sa[0].Quantity || now[1].Quantity != sa[1].Quantity+1 {
		t.Errorf("PartialSuccess applied %d,%d; want only the second entry", now[0].Quantity-sa[0].Quantity, now[1].Quantity-sa[1].Quantity)
	}
	if e.sim.Subscriptions(cb)[0].Quantity != sb[0].Quantity || e.sim.Subscriptions(cc)[0].Quantity != sc[0].Quantity {
		t.Error("a Failure or Canceled amendment changed a quantity")
	}
	// The same plan again reports the recorded Failure and sends nothing; a
	// new plan (from another run) with the same change is sent.
	e.sim.SetAmendOutcomes(nil, nil)
	posts := e.sim.AmendStats().Posts
	res, err := e.apply(t, handPlan(cb, sb[0]), afterMinimums, nil)
	if err != nil || res[0].State != "Failure" || e.sim.AmendStats().Posts != posts {
		t.Errorf("same plan after Failure: %v %+v", err, res)
	}
	again := handPlan(cb, sb[0])
	again.RunID = 2
	res, err = e.apply(t, again, afterMinimums, nil)
	if err != nil || res[0].State != "Success" || e.sim.Subscriptions(cb)[0].Quantity != sb[0].Quantity+1 {
		t.Errorf("new plan after Failure: %v %+v", err, res)
	}
	e.sim.SetAmendOutcomes([]string{sa[0].ID, sb[0].ID}, []string{sc[0].ID})
	events, _ := e.store.AmendmentLog(context.Background(), "")
	var partial []string
	for _, ev := range events {
		if ev.Event == ledger.EventOutcome && ev.Status == "PartialSuccess" {
			partial = append(partial, ev.Detail)
		}
	}
	if len(partial) != 2 || !strings.Contains(partial[0], "not applied") || !strings.Contains(partial[1], "(this entry applied)") {
		t.Errorf("PartialSuccess outcomes: %q", partial)
	}
}

func TestAmendGuardsRefuse(t *testing.T) {
	e := newEnv(t, baseConfig())
	c, subs := subsWithSiblings(t, e.sim, 1, nil)
	stale := handPlan(c, subs[0])
	stale.Entries[0].CurrentQuantity++
	res, err := e.apply(t, stale, afterMinimums, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].State != job.StateRefused || !strings.Contains(res[0].Detail, "stale") {
		t.Errorf("stale entry: %s %q", res[0].State, res[0].Detail)
	}
	// A monthly subscription's minimum (its full quantity) is in force until the 8th.
	var monthly []sherwebsim.SubscriptionTruth
	var mc string
	for _, cu := range e.sim.Customers() {
		for _, s := range e.sim.Subscriptions(cu.ID) {
			if strings.HasSuffix(s.SKU, "-P1M") && s.Quantity > 1 {
				monthly, mc = append(monthly, s), cu.ID
				break
			}
		}
		if len(monthly) > 0 {
			break
		}
	}
	below := handPlan(mc, monthly[0])
	below.Entries[0].NewQuantity = monthly[0].Quantity - 1
	res, err = e.apply(t, below, "2026-10-05", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].State != job.StateRefused || !strings.Contains(res[0].Detail, "below the committed minimum") {
		t.Errorf("below minimum: %s %q", res[0].State, res[0].Detail)
	}
	if st := e.sim.AmendStats(); st.Posts != 0 {
		t.Errorf("refused entries were posted: %d POSTs", st.Posts)
	}
	// Without confirmation nothing is sent; a dry run sends nothing.
	ok := handPlan(c, subs[0])
	if _, err := e.apply(t, ok, afterMinimums, func(o *job.ApplyOptions) { o.Confirm = nil }); !errors.Is(err, job.ErrNotConfirmed) {
		t.Errorf("no confirmation: %v", err)
	}
	res, err = e.apply(t, ok, afterMinimums, func(o *job.ApplyOptions) { o.DryRun = true; o.Confirm = nil })
	if err != nil || res[0].State != job.StateDryRun {
		t.Errorf("dry run: %v %+v", err, res)
	}
	if st := e.sim.AmendStats(); st.Posts != 0 {
		t.Errorf("dry run posted: %d POSTs", st.Posts)
	}
}

func TestAmendPostFaultsExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		faults    sherwebsim.AmendFaults
		first     string // state after the first apply
		second    string // after a re-run
		wantPosts int
	}{
		{"429 retried", sherwebsim.AmendFaults{PostRateLimited: 1, RetryAfter: "0"}, "Success", "Success", 2},
		{"5xx after applying", sherwebsim.AmendFaults{Post5xxAfter: 1}, job.StateUnknown, job.StateApplied, 1},
		{"cut after applying", sherwebsim.AmendFaults{PostCutAfter: 1}, job.StateUnknown, job.StateApplied, 1},
		{"5xx before applying", sherwebsim.AmendFaults{Post5xxBefore: 1}, job.StateUnknown, job.StateUnknown, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, baseConfig())
			c, subs := subsWithSiblings(t, e.sim, 1, nil)
			p := handPlan(c, subs[0])
			e.sim.SetAmendFaults(tc.faults)
			res, err := e.apply(t, p, afterMinimums, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].State != tc.first {
				t.Errorf("first apply: %s %q, want %s", res[0].State, res[0].Detail, tc.first)
			}
			res, err = e.apply(t, p, afterMinimums, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].State != tc.second {
				t.Errorf("re-run: %s %q, want %s", res[0].State, res[0].Detail, tc.second)
			}
			st := e.sim.AmendStats()
			if st.Posts != tc.wantPosts {
				t.Errorf("%d POSTs, want %d", st.Posts, tc.wantPosts)
			}
			if n := st.Entries[strings.ToLower(subs[0].ID)]; n > 1 {
				t.Errorf("entry accepted %d times", n)
			}
		})
	}
}

// TestAmendPendingResumedByStatus: an amendment still pending at the
// deadline is recorded as pending and `amend status` tracks it to its end.
func TestAmendPendingResumedByStatus(t *testing.T) {
	cfg := baseConfig()
	cfg.Amend = sherwebsim.AmendConfig{PendingPolls: 3, ProcessingPolls: 2}
	e := newEnv(t, cfg)
	c, subs := subsWithSiblings(t, e.sim, 1, nil)
	p := handPlan(c, subs[0])
	res, err := e.apply(t, p, afterMinimums, func(o *job.ApplyOptions) { o.PollInterval, o.PollDeadline = time.Second, time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	if res[0].State != job.StatePending || res[0].AmendmentID == "" {
		t.Fatalf("at the deadline: %+v", res[0])
	}
	ctx := context.Background()
	res, err = job.AmendStatus(ctx, job.StatusOptions{Ledger: e.store, Client: e.client(t, ctx), Actor: "tester", Now: fixedNow,
		PollInterval: time.Millisecond, PollDeadline: time.Hour, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].State != "Success" {
		t.Fatalf("status: %+v", res)
	}
	events, _ := e.store.AmendmentLog(ctx, "")
	var statuses []string
	for _, ev := range events {
		if ev.Event == ledger.EventStatus {
			statuses = append(statuses, ev.Status)
		}
	}
	if strings.Join(statuses, ",") != "Pending,Processing,Success" {
		t.Errorf("statuses recorded: %v", statuses)
	}
	// Nothing left to resume.
	if res, _ := job.AmendStatus(ctx, job.StatusOptions{Ledger: e.store, Client: e.client(t, ctx)}); len(res) != 0 {
		t.Errorf("resumed again: %+v", res)
	}
}
