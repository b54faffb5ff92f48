package main

import (
	"path/filepath"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/xuri/excelize/v2"
)

// runSheetSettings reads the Field column of a workbook's Run sheet and
// counts each name.
func runSheetSettings(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Run")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range rows[1:] {
		if len(r) > 0 {
			counts[r[0]]++
		}
	}
	return counts
}

// Regression: `run` listed every fetch setting twice on the Run sheet (the
// fetch settings were handed back in as report settings); `report` once.
func TestRunSheetListsEachSettingOnce(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 5, Customers: 4, Charges: 20})
	dir := t.TempDir()
	db := dbtest.DB(t)
	closeBook := filepath.Join(dir, "close.xlsx")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", closeBook); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	reportBook := filepath.Join(dir, "report.xlsx")
	if code, _, stderr := runCLI(t, "report", "--period", "2026-10", "--db", db, "--out", reportBook); code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	for _, book := range []string{closeBook, reportBook} {
		counts := runSheetSettings(t, book)
		for _, name := range []string{"concurrency", "max attempts", "max wait", "request timeout", "rate limit (req/s)", "subscriptions", "tolerance", "detail", "requested date"} {
			if counts[name] != 1 {
				t.Errorf("%s: Run sheet lists %q %d times, want once", filepath.Base(book), name, counts[name])
			}
		}
		for name, n := range counts {
			if n != 1 {
				t.Errorf("%s: Run sheet lists %q %d times", filepath.Base(book), name, n)
			}
		}
	}
}
