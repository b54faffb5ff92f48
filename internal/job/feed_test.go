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
		name    string
		faults  func(cs []billing.Customer) sherwebsim.Faults
		licence bool // plant the licence scenarios (a committed minimum, a renewal within 30 days)
		noSpool bool // the Commitments rows cannot be spooled: the sheet reads the subscriptions again
	}{
		{"clean", noFault, false, false},
		{"licence scenarios, shuffled", faults(sherwebsim.Faults{Shuffle: true}), true, false},
		{"no spool for the commitments", noFault, true, true},
		{"shuffled", faults(sherwebsim.Faults{Shuffle: true}), false, false},
		{"payable stream retried", faults(sherwebsim.Faults{TruncatePayable: "once"}), false, false},
		{"one customer failing, one of another period", func(cs []billing.Customer) sherwebsim.Faults {
			return sherwebsim.Faults{FailCustomerAlways: []string{cs[3].ID}, PeriodDiffersFor: []string{cs[5].ID}, FailCustomerOnce: []string{cs[7].ID}}
		}, false, false},
	}
	opts := report.Options{LowMarginPercent: decimal.NullDecimal{Decimal: decimal.RequireFromString("12.5"), Valid: true}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := baseConfig()
			cfg.LicenceScenarios = row.licence
			if row.noSpool {
				t.Cleanup(job.SetSpoolDir(filepath.Join(t.TempDir(), "missing")))
			}
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
			// The licence side is exercised: commitments with a unit cost,
			// stranded ones (the licence findings' S > B) and findings.
			if s := fed.Result.Subscriptions; s == nil || s.Commitments.Subscriptions == 0 || len(s.Commitments.Totals) == 0 ||
				len(s.Commitments.Stranded) == 0 || s.Commitments.Renews30 == 0 {
				t.Error("no commitments with a unit cost, stranded or renewing: the licence side is not exercised")
			}
			if n := countKind(fed.Result, report.KindLicenceMismatch); n == 0 {
				t.Error("no licence_mismatch finding: the licence check is not exercised")
			}
			// Read back from the ledger: the Commitments sheet reads the
			// subscriptions again (Reconcile) or the report's spool
			// (Reissue, as 'reconcile report' does).
			read, err := job.Reconcile(ctx, e.store, fed.Run, opts)
			if err != nil {
				t.Fatal(err)
			}
			reissued := &recordingSink{}
			if err := job.Reissue(ctx, job.ReissueOptions{Ledger: e.store, Run: fed.Run,
				ReportOptions: job.ReportOptions{Sink: reissued, Reconcile: opts}}); err != nil && len(reissued.published) != 1 {
				t.Fatalf("reissue: %v", err)
			}
			if job.CommitmentsSpooled(fed) == row.noSpool || job.CommitmentsSpooled(reissued.published[0]) == row.noSpool {
				t.Errorf("commitments spooled: close %v, reissue %v; want %v", job.CommitmentsSpooled(fed),
					job.CommitmentsSpooled(reissued.published[0]), !row.noSpool)
			}
			if job.CommitmentsSpooled(read) {
				t.Error("a report read from the ledger spooled its commitments")
			}
			fb, fj := writeRec(t, fed)
			for _, other := range []struct {
				name string
				rec  *job.Reconciliation
			}{{"a report read from the ledger", read}, {"a reissue", reissued.published[0]}} {
				other.rec.Info = fed.Info
				rb, rj := writeRec(t, other.rec)
				if !bytes.Equal(fj, rj) {
					t.Errorf("JSON of the close differs from %s at %s", other.name, firstDiff(fj, rj))
				}
				if !bytes.Equal(fb, rb) {
					t.Errorf("workbook of the close differs from %s", other.name)
					sameSheets(t, fb, rb, nil)
				}
			}
			// The spooled rows can be read again (a second workbook).
			if fb2, _ := writeRec(t, fed); !bytes.Equal(fb, fb2) {
				t.Error("a second workbook of the close differs from the first")
			}
		})
	}
}

// A spool that fails once customers were released from the licence check
// (their rows only in the spool): the close reads the run back from the
// ledger, with the same output as a report of the run.
func TestCloseSpoolFailingAfterRelease(t *testing.T) {
	ctx := context.Background()
	cfg := baseConfig()
	cfg.LicenceScenarios = true
	t.Cleanup(job.FailSpoolWrites())
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
		ReportOptions: job.ReportOptions{Sink: sink, Logger: log},
	})
	if len(sink.published) != 1 {
		t.Fatalf("published %d times (err %v)", len(sink.published), err)
	}
	if !strings.Contains(logs.String(), "Commitments spool failed after customers were released") {
		t.Errorf("the close did not read the run back for its failed spool:\n%s", logs.String())
	}
	fed := sink.published[0]
	if s := fed.Result.Subscriptions; s == nil || s.Commitments.Subscriptions == 0 || len(s.Commitments.Stranded) == 0 {
		t.Error("no commitments or stranded ones: the licence side is not exercised")
	}
	read, err := job.Reconcile(ctx, e.store, fed.Run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	read.Info = fed.Info
	fb, fj := writeRec(t, fed)
	rb, rj := writeRec(t, read)
	if !bytes.Equal(fj, rj) {
		t.Errorf("JSON of the close differs from a report read from the ledger at %s", firstDiff(fj, rj))
	}
	if !bytes.Equal(fb, rb) {
		t.Error("workbook of the close differs from a report read from the ledger")
		sameSheets(t, fb, rb, nil)
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

func countKind(res *report.Result, kind string) int {
	n := 0
	for _, f := range res.Mismatches {
		if f.Kind == kind {
			n++
		}
	}
	return n
}
