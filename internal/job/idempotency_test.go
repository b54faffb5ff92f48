package job_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// outputs reconciles a run and returns its workbook and JSON bytes.
func outputs(t *testing.T, store *ledger.Store, run ledger.Run) (book, js []byte) {
	t.Helper()
	ctx := context.Background()
	rec, err := job.Reconcile(ctx, store, run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := job.Outputs{Workbook: filepath.Join(dir, "w.xlsx"), JSON: filepath.Join(dir, "s.json")}
	if err := job.WriteOutputs(ctx, rec, out); err != nil {
		t.Fatal(err)
	}
	book = readFile(t, out.Workbook)
	js = readFile(t, out.JSON)
	return book, js
}

// Fetching the same period twice from an unchanged API into one ledger gives
// identical business data, and workbooks identical in every sheet but the
// Run sheet's provenance (run id).
func TestFetchTwiceIsIdempotent(t *testing.T) {
	e := newEnv(t, baseConfig())
	ctx := context.Background()
	r1, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == r2.ID {
		t.Fatal("a re-fetch did not make a new run")
	}
	d1, _ := e.store.Digest(ctx, r1.ID)
	d2, _ := e.store.Digest(ctx, r2.ID)
	if d1 != d2 || d1 == "" {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
	b1, _ := outputs(t, e.store, r1)
	b2, _ := outputs(t, e.store, r2)
	sameSheets(t, b1, b2, map[string]bool{"Run": true, "Summary": true})
	latest, err := e.store.FindRun(ctx, e.sim.DefaultPeriod().From)
	if err != nil || latest.ID != r2.ID {
		t.Errorf("FindRun = run %d, %v; want the latest complete run %d", latest.ID, err, r2.ID)
	}
}

// Shuffling the order of every API response changes nothing: same digest,
// byte-identical workbook and JSON.
func TestShuffledResponsesChangeNothing(t *testing.T) {
	clean := newEnv(t, baseConfig())
	cfg := baseConfig()
	cfg.Faults.Shuffle = true
	shuffled := newEnv(t, cfg)
	ctx := context.Background()
	r1, err := clean.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := shuffled.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := clean.store.Digest(ctx, r1.ID)
	d2, _ := shuffled.store.Digest(ctx, r2.ID)
	if d1 != d2 {
		t.Errorf("digest of shuffled responses %s, want %s", d2, d1)
	}
	b1, j1 := outputs(t, clean.store, r1)
	b2, j2 := outputs(t, shuffled.store, r2)
	if !bytes.Equal(j1, j2) {
		t.Error("JSON summaries differ after shuffling")
	}
	if !bytes.Equal(b1, b2) {
		t.Error("workbooks are not byte-identical after shuffling")
		sameSheets(t, b1, b2, nil)
	}
}

// sameSheets compares two workbooks cell by cell, sheet by sheet; in the
// skipped sheets only the rows naming the run differ.
func sameSheets(t *testing.T, a, b []byte, skip map[string]bool) {
	t.Helper()
	fa, err := excelize.OpenReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := fa.GetSheetList(), fb.GetSheetList()
	if len(sa) != len(sb) {
		t.Fatalf("sheets %v vs %v", sa, sb)
	}
	for i, name := range sa {
		if sb[i] != name {
			t.Fatalf("sheet %d: %s vs %s", i, name, sb[i])
		}
		ra, _ := fa.GetRows(name)
		rb, _ := fb.GetRows(name)
		if len(ra) != len(rb) {
			t.Errorf("sheet %s: %d rows vs %d", name, len(ra), len(rb))
			continue
		}
		for r := range ra {
			if skip[name] && len(ra[r]) > 0 && containsRunID(ra[r]) {
				continue
			}
			if len(ra[r]) != len(rb[r]) {
				t.Errorf("sheet %s row %d: %v vs %v", name, r+1, ra[r], rb[r])
				continue
			}
			for c := range ra[r] {
				if ra[r][c] != rb[r][c] {
					t.Errorf("sheet %s row %d col %d: %q vs %q", name, r+1, c+1, ra[r][c], rb[r][c])
				}
			}
		}
	}
}

func containsRunID(row []string) bool {
	for _, c := range row {
		if c == "Run ID" || c == "run id" || c == "Run id" {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
