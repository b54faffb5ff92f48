package job_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// The close feeds the engine while it fetches (payable lines as they
// stream, customers as they commit) instead of reading the run back: its
// Result, JSON and workbook must be byte-identical to a report of the same
// run read from the ledger, whatever the API's order, retries and faults.
func TestCloseFedWhileFetchingEqualsLedgerRead(t *testing.T) {
	rows := []struct {
		name   string
		faults func(cs []billing.Customer) sherwebsim.Faults
	}{
		{"clean", noFault},
		{"shuffled", faults(sherwebsim.Faults{Shuffle: true})},
		{"payable stream retried", faults(sherwebsim.Faults{TruncatePayable: "once"})},
		{"one customer failing, one of another period", func(cs []billing.Customer) sherwebsim.Faults {
			return sherwebsim.Faults{FailCustomerAlways: []string{cs[3].ID}, PeriodDiffersFor: []string{cs[5].ID}, FailCustomerOnce: []string{cs[7].ID}}
		}},
	}
	opts := report.Options{LowMarginPercent: decimal.NullDecimal{Decimal: decimal.RequireFromString("12.5"), Valid: true}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := baseConfig()
			cfg.Faults = row.faults(sherwebsim.New(cfg).Customers())
			e := newEnv(t, cfg)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			sink := &recordingSink{}
			p := e.sim.DefaultPeriod()
			err := job.Close(ctx, job.CloseOptions{
				Ledger: e.store,
				Client: e.client(t, ctx),
				Fetch: job.FetchOptions{Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow,
					Concurrency: 4, Subscriptions: true, Logger: log},
				ReportOptions: job.ReportOptions{Sink: sink, Reconcile: opts, Logger: log},
			})
			if len(sink.published) != 1 {
				t.Fatalf("published %d times (err %v)", len(sink.published), err)
			}
			if strings.Contains(logs.String(), "reading the run back") {
				t.Errorf("the close read the run back from the ledger:\n%s", logs.String())
			}
			fed := sink.published[0]
			if s := fed.Result.Subscriptions; s == nil || s.Commitments.Subscriptions == 0 || len(s.Commitments.Totals) == 0 {
				t.Error("no commitments with a unit cost: the licence side is not exercised")
			}
			read, err := job.Reconcile(ctx, e.store, fed.Run, opts)
			if err != nil {
				t.Fatal(err)
			}
			read.Info = fed.Info
			fb, fj := writeRec(t, fed)
			rb, rj := writeRec(t, read)
			if !bytes.Equal(fj, rj) {
				t.Errorf("JSON of the close differs from the ledger's at %s", firstDiff(fj, rj))
			}
			if !bytes.Equal(fb, rb) {
				t.Error("workbook of the close differs from the ledger's")
				sameSheets(t, fb, rb, nil)
			}
		})
	}
}

func writeRec(t *testing.T, rec *job.Reconciliation) (book, js []byte) {
	t.Helper()
	dir := t.TempDir()
	out := job.Outputs{Workbook: filepath.Join(dir, "w.xlsx"), JSON: filepath.Join(dir, "s.json")}
	if err := job.WriteOutputs(context.Background(), rec, out); err != nil {
		t.Fatal(err)
	}
	return readFile(t, out.Workbook), readFile(t, out.JSON)
}
