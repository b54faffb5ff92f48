package job_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// recordingSink is a Sink that keeps what it was given: Close and Reissue
// publish through any Sink, not only files.
type recordingSink struct {
	prepared  int
	published []*job.Reconciliation
	prepErr   error
}

func (s *recordingSink) Prepare(context.Context) error {
	s.prepared++
	return s.prepErr
}

func (s *recordingSink) Publish(_ context.Context, rec *job.Reconciliation) (string, error) {
	s.published = append(s.published, rec)
	return "memory", nil
}

func TestCloseAndReissuePublishThroughSink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, baseConfig())
	sink := &recordingSink{}
	var msgs bytes.Buffer
	p := e.sim.DefaultPeriod()
	err := job.Close(ctx, job.CloseOptions{
		Ledger: e.store,
		Client: e.client(t, ctx),
		Fetch: job.FetchOptions{
			Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow,
			Settings: []job.Setting{{Name: "concurrency", Value: "4"}},
		},
		ReportOptions: job.ReportOptions{
			Sink:           sink,
			Settings:       []job.Setting{{Name: "tolerance", Value: "0.01"}},
			FailOnFindings: true,
			Messages:       &msgs,
		},
	})
	if sink.prepared != 1 || len(sink.published) != 1 {
		t.Fatalf("prepared %d, published %d times; want 1 and 1 (err %v)", sink.prepared, len(sink.published), err)
	}
	rec := sink.published[0]
	if !rec.Result.Complete {
		t.Fatalf("result incomplete: %v", err)
	}
	var fe *job.FindingsError
	if n := len(rec.Result.Mismatches); n == 0 || !errors.As(err, &fe) || fe.N != n {
		t.Errorf("err = %v, want a FindingsError for %d findings", err, n)
	}
	if !strings.Contains(msgs.String(), "COMPLETE") || !strings.Contains(msgs.String(), "workbook memory") {
		t.Errorf("message = %q", msgs.String())
	}
	if rec.Attributor == nil || rec.Detail == nil {
		t.Fatal("reconciliation without attributor or detail")
	}
	// The Run sheet's settings: the requested date, the fetch's stored
	// settings (the fetch settings once), then the report settings.
	var names []string
	for _, kv := range rec.Info.Settings {
		names = append(names, kv[0])
	}
	if got, want := strings.Join(names, ","), "requested date,concurrency,tolerance"; got != want {
		t.Errorf("settings = %s, want %s", got, want)
	}

	// Reissuing the stored run gives the same JSON bytes.
	again := &recordingSink{}
	if err := job.Reissue(ctx, job.ReissueOptions{
		Ledger: e.store, Run: rec.Run,
		ReportOptions: job.ReportOptions{Sink: again, Reconcile: report.Options{}},
	}); err != nil {
		t.Fatalf("reissue: %v", err)
	}
	var a, b bytes.Buffer
	if err := rec.Result.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if err := again.published[0].Result.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("reissued JSON differs from the close's")
	}
}

func TestClosePrepareFailsBeforeAnyCall(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, baseConfig())
	boom := errors.New("output folder not writable")
	sink := &recordingSink{prepErr: boom}
	client := e.client(t, ctx)
	err := job.Close(ctx, job.CloseOptions{
		Ledger: e.store, Client: client,
		Fetch:         job.FetchOptions{Date: e.sim.DefaultPeriod().From, Now: fixedNow},
		ReportOptions: job.ReportOptions{Sink: sink},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the Prepare error", err)
	}
	if calls := client.Stats().Calls; calls != 0 {
		t.Errorf("%d API calls after a failed Prepare, want 0", calls)
	}
	if runs, err := e.store.Runs(ctx); err != nil || len(runs) != 0 {
		t.Errorf("runs = %v, %v; want none", runs, err)
	}
}

// interruptedSink fails its Publish as an interrupted workbook write does.
type interruptedSink struct{ recordingSink }

func (s *interruptedSink) Publish(context.Context, *job.Reconciliation) (string, error) {
	return "", context.Canceled
}

// An interrupted report write says how to re-issue the report, and stores
// the run summary only for a published report.
func TestInterruptedPublishSaysHowToReissue(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, baseConfig())
	p := e.sim.DefaultPeriod()
	err := job.Close(ctx, job.CloseOptions{
		Ledger: e.store,
		Client: e.client(t, ctx),
		Fetch:  job.FetchOptions{Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow},
		ReportOptions: job.ReportOptions{
			Sink: &interruptedSink{},
		},
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "'reconcile report --run 1'") {
		t.Errorf("error %v: want an interruption naming 'reconcile report --run 1'", err)
	}
	sums, serr := e.store.RunSummaries(ctx)
	if serr != nil || len(sums) != 0 {
		t.Errorf("summary stored for an unpublished report: %v %v", sums, serr)
	}
	// A published close stores its summary.
	if err := job.Close(ctx, job.CloseOptions{
		Ledger:        e.store,
		Client:        e.client(t, ctx),
		Fetch:         job.FetchOptions{Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow},
		ReportOptions: job.ReportOptions{Sink: &recordingSink{}},
	}); err != nil {
		t.Fatal(err)
	}
	sums, _ = e.store.RunSummaries(ctx)
	if s, ok := sums[2]; !ok || len(s.Totals) == 0 {
		t.Errorf("no summary for the published run 2: %+v", sums)
	}
}
