package job_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// ownedDetail hides the lending reads of a Detail: its lines are read as
// EachPayable and EachReceivable hand them out.
type ownedDetail struct{ d xlsx.Detail }

func (o ownedDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return o.d.EachPayable(ctx, fn)
}

func (o ownedDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return o.d.EachReceivable(ctx, fn)
}

// TestLentDetailWritesTheSameBytes: the detail CSV files (and the workbook
// beside them) written from lent lines (xlsx.ViewDetail: texts that are
// views of the ledger's read buffer, reused batch after batch) are byte for
// byte those written from lines of their own, over thousands of lines (many
// read batches) in several currencies. (The detail sheets of an xlsx
// workbook read lines of their own: lending them gained nothing measurable,
// BENCHMARKS.md "Round fifteen results".)
func TestLentDetailWritesTheSameBytes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sherwebsim.Config{Seed: 11, Customers: 12, Charges: 2000})
	run, err := e.fetch(t)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	rec, err := job.Reconcile(ctx, e.store, run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Detail.(xlsx.ViewDetail); !ok {
		t.Fatalf("the run's Detail (%T) does not lend its lines: nothing is compared", rec.Detail)
	}
	if rec.Result.PayableLines < 1000 || rec.Result.ReceivableLines < 1000 {
		t.Fatalf("%d payable and %d receivable lines: want many read batches of each", rec.Result.PayableLines, rec.Result.ReceivableLines)
	}
	write := func(d xlsx.Detail) map[string][]byte {
		dir := t.TempDir()
		r := *rec
		r.Detail = d
		if err := job.WriteOutputs(ctx, &r, job.Outputs{Workbook: filepath.Join(dir, "w.xlsx"),
			Options: xlsx.WorkbookOptions{TmpDir: dir, Detail: xlsx.DetailCSV}}); err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, name := range dirNames(t, dir) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		return files
	}
	lent, owned := write(rec.Detail), write(ownedDetail{rec.Detail})
	if len(lent) != len(owned) || len(owned) != 3 {
		t.Fatalf("lent reads wrote %d files, owned reads %d, want the workbook and two CSV files each", len(lent), len(owned))
	}
	for name, want := range owned {
		if got := lent[name]; !bytes.Equal(got, want) {
			t.Errorf("%s from lent lines (%d bytes) differs from the one from owned lines (%d bytes)", name, len(got), len(want))
		}
	}
}
