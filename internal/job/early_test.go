package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// A close with CSV detail writes the payable file while it fetches the
// customers, and the receivable file from the customers as it stores them,
// and publishes both: the files are those a report of the stored run
// writes, whatever the API's order, retries and faults.
func TestCloseWritesDetailCSVAhead(t *testing.T) {
	rows := []struct {
		name   string
		faults func(cs []billing.Customer) sherwebsim.Faults
	}{
		{"clean", noFault},
		{"shuffled, some calls failing once", faults(sherwebsim.Faults{Shuffle: true, Random5xx: 0.05})},
		{"one customer failing, one of another period", func(cs []billing.Customer) sherwebsim.Faults {
			return sherwebsim.Faults{FailCustomerAlways: []string{cs[3].ID}, PeriodDiffersFor: []string{cs[5].ID}, FailCustomerOnce: []string{cs[7].ID}}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := baseConfig()
			cfg.Faults = row.faults(sherwebsim.New(cfg).Customers())
			e := newEnv(t, cfg)
			p := e.sim.DefaultPeriod()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			closeDir, reportDir := t.TempDir(), t.TempDir()
			// The workbook is named after the period (known once the payable
			// lines are committed).
			sink := &job.FileSink{Dir: closeDir, Detail: xlsx.DetailCSV, Logger: log}
			err := job.Close(ctx, job.CloseOptions{
				Ledger: e.store,
				Client: e.client(t, ctx),
				Fetch: job.FetchOptions{Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow,
					Concurrency: 4, Subscriptions: true, Logger: log},
				ReportOptions: job.ReportOptions{Sink: sink, Logger: log},
			})
			if err != nil && !errors.Is(err, job.ErrIncomplete) {
				t.Fatalf("close: %v\n%s", err, logs.String())
			}
			// The receivable file is written during the fan-out from the
			// rows the SQLite ledger encodes; on PostgreSQL after it.
			recv := "receivable_ahead=" + strconv.FormatBool(e.store.EncodesLines())
			for _, want := range []string{"payable_ahead=true", recv} {
				if !strings.Contains(logs.String(), want) {
					t.Fatalf("no %s:\n%s", want, logs.String())
				}
			}
			if strings.Contains(logs.String(), "not used") {
				t.Errorf("a file written ahead was not used:\n%s", logs.String())
			}
			runs, err := e.store.Runs(ctx)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs = %v, %v", runs, err)
			}
			again := &job.FileSink{Dir: reportDir, Detail: xlsx.DetailCSV}
			err = job.Reissue(ctx, job.ReissueOptions{Ledger: e.store, Run: runs[0], ReportOptions: job.ReportOptions{Sink: again}})
			if err != nil && !errors.Is(err, job.ErrIncomplete) {
				t.Fatalf("reissue: %v", err)
			}
			base := strings.TrimSuffix(job.DefaultWorkbookName(runs[0]), ".xlsx")
			for _, name := range []string{base + "-payable.csv", base + "-receivable.csv"} {
				a, errA := os.ReadFile(filepath.Join(closeDir, name))
				b, errB := os.ReadFile(filepath.Join(reportDir, name))
				if errA != nil || errB != nil || bytes.Count(a, []byte("\n")) < 100 || !bytes.Equal(a, b) {
					t.Errorf("%s: the close's (%d bytes, %v) differs from the report's (%d bytes, %v)", name, len(a), errA, len(b), errB)
				}
			}
			if got, want := strings.Join(dirNames(t, closeDir), ","), base+"-payable.csv,"+base+"-receivable.csv,"+base+".xlsx"; got != want {
				t.Errorf("the close's folder holds %q", got)
			}
		})
	}
}

// cancelAt cancels a context when a phase starts.
type cancelAt struct {
	phase  string
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelAt) Phase(name, _ string, _ int64) {
	if name == c.phase {
		c.once.Do(c.cancel)
	}
}
func (c *cancelAt) Rows(int64) {}
func (c *cancelAt) Done()      {}

// A close interrupted after the payable file was started leaves no file
// and no temp file behind.
func TestCloseInterruptedLeavesNoPayableCSV(t *testing.T) {
	e := newEnv(t, baseConfig())
	p := e.sim.DefaultPeriod()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	sink := &job.FileSink{Workbook: filepath.Join(dir, "recon.xlsx"), Detail: xlsx.DetailCSV}
	err := job.Close(ctx, job.CloseOptions{
		Ledger: e.store,
		Client: e.client(t, context.Background()),
		Fetch: job.FetchOptions{Date: p.From, BaseURL: "http://simulator.test", ToolVersion: "test", Now: fixedNow,
			Progress: &cancelAt{phase: job.PhaseCustomers, cancel: cancel}},
		ReportOptions: job.ReportOptions{Sink: sink},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancellation", err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("the folder holds %q after an interrupted close, want nothing", got)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
