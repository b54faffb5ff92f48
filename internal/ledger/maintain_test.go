package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// A copied customer has exactly the rows of the original: same receivables,
// subscriptions and coverage, so the same content.
func TestCopyCustomerData(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	base := mustBeginRun(t, s)
	recv := []billing.ReceivableCharge{sampleReceivable(1), sampleReceivable(2)}
	subs := []billing.Subscription{sampleSubscription(1)}
	saveCustomerWithData(t, s, base, "c-1", billing.CoverageAvailable, recv, subs)

	next := mustBeginRun(t, s)
	if err := s.SaveCustomers(ctx, next, []billing.Customer{{ID: "c-1", DisplayName: "Name c-1"}, {ID: "c-2", DisplayName: "x"}}); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, next)
	if err := w.Save(CustomerData{CustomerID: "c-1", Coverage: billing.CoverageAvailable, CopyFrom: base}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var a, b []string
	for _, c := range []struct {
		id  int64
		out *[]string
	}{{base, &a}, {next, &b}} {
		if err := s.EachReceivable(ctx, c.id, func(id string, r *billing.ReceivableCharge) error {
			*c.out = append(*c.out, id+" "+r.SKU+" "+r.CostPriceProrated.Decimal.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(a, "|") != strings.Join(b, "|") || len(b) != 2 {
		t.Errorf("copied receivables %v, want %v", b, a)
	}
	got, err := s.Subscriptions(ctx, next, "c-1")
	if err != nil || len(got) != 1 {
		t.Errorf("copied subscriptions: %v, %v", got, err)
	}
	cov, err := s.Coverage(ctx, next)
	if err != nil || len(cov) != 1 || cov[0].Coverage != billing.CoverageAvailable || !cov[0].Period.Equal(october) {
		t.Errorf("copied coverage: %+v, %v", cov, err)
	}
	// A customer the base run does not have cannot be copied.
	err = s.SaveCustomerData(ctx, next, CustomerData{CustomerID: "c-2", Coverage: billing.CoverageAvailable, CopyFrom: base})
	if err == nil || !strings.Contains(err.Error(), "has no data of customer c-2") {
		t.Errorf("copy of a customer the base run lacks: %v", err)
	}
}

func TestRunSummariesAndSettings(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	if err := s.SetRunSettings(ctx, id, `{"retry of run":"1"}`); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Run(ctx, id); r.Settings != `{"retry of run":"1"}` {
		t.Errorf("settings %q", r.Settings)
	}
	if err := s.FinishRun(ctx, id, billing.RunComplete, RunStats{}, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRunSettings(ctx, id, `{}`); err == nil {
		t.Error("changed the settings of a finished run")
	}
	sum := RunSummary{RunID: id, Tolerance: "0.01", Findings: 3, Totals: []SummaryTotal{{Currency: "CAD", Payable: "10.50", Receivable: "12.00", Margin: "1.50"}}}
	for i := 0; i < 2; i++ { // a second put replaces
		if err := s.PutRunSummary(ctx, sum, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RunSummaries(ctx)
	if err != nil || len(got) != 1 || got[id].Findings != 3 || got[id].Totals[0].Payable != "10.50" {
		t.Errorf("summaries %+v, %v", got, err)
	}
}

func TestDeleteRunsAndReferences(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	keep := mustBeginRun(t, s)
	saveCustomerWithData(t, s, keep, "c-1", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1)}, nil)
	gone := mustBeginRun(t, s)
	saveCustomerWithData(t, s, gone, "c-1", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1)}, []billing.Subscription{sampleSubscription(1)})
	if err := s.PutRunSummary(ctx, RunSummary{RunID: gone}, time.Now()); err != nil {
		t.Fatal(err)
	}
	// No referencing table yet: nothing is referenced.
	refs, err := s.ReferencedRuns(ctx)
	if err != nil || len(refs) != 0 {
		t.Fatalf("refs %v, %v", refs, err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE comparisons (base_run_id BIGINT, run_id BIGINT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO comparisons (base_run_id, run_id) VALUES (?, NULL)`), keep); err != nil {
		t.Fatal(err)
	}
	refs, err = s.ReferencedRuns(ctx)
	if err != nil || refs[keep] != "a comparison" || len(refs) != 1 {
		t.Fatalf("refs %v, %v", refs, err)
	}
	before, err := s.Size(ctx)
	if err != nil || before <= 0 {
		t.Fatalf("size %d, %v", before, err)
	}
	if err := s.DeleteRuns(ctx, []int64{gone, keep}); err == nil || !strings.Contains(err.Error(), "a comparison refers to it") {
		t.Fatalf("deleted a referenced run: %v", err)
	}
	if _, err := s.Run(ctx, gone); err != nil {
		t.Fatal("a refused delete deleted something")
	}
	if err := s.DeleteRuns(ctx, []int64{gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, gone); err == nil {
		t.Error("run still there")
	}
	n := 0
	_ = s.EachReceivable(ctx, gone, func(string, *billing.ReceivableCharge) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d receivables of the deleted run left", n)
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, keep); err != nil {
		t.Errorf("kept run lost: %v", err)
	}
}
