package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// compare and trend through the command line: exit codes and messages.
func TestCompareAndTrendCLI(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 7, Customers: 20, Charges: 200, History: true})
	dir := t.TempDir()
	db := dbtest.DB(t)
	for _, p := range []string{"2026-10", "2026-11"} {
		if code, _, stderr := runCLI(t, "fetch", "--period", p, "--db", db); code != exitOK {
			t.Fatalf("fetch %s: exit %d: %s", p, code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "fetch", "--period", "2026-09", "--db", db, "--max-attempts", "2"); code != exitIncomplete {
		t.Fatalf("fetch 2026-09: exit %d, want %d: %s", code, exitIncomplete, stderr)
	}

	out := filepath.Join(dir, "c.xlsx")
	code, stdout, stderr := runCLI(t, "compare", "--base", "2026-10", "--period", "2026-11", "--db", db, "--out", out, "--json", "-")
	if code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	var j struct {
		Complete bool `json:"complete"`
		Bridge   []struct {
			Currency string `json:"currency"`
		} `json:"bridge"`
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil || !j.Complete || len(j.Bridge) == 0 {
		t.Errorf("compare --json -: %v %+v", err, j)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("workbook: %v", err)
	}

	// Either run incomplete: the report is written, exit 3.
	out3 := filepath.Join(dir, "incomplete.xlsx")
	code, _, stderr = runCLI(t, "compare", "--base", "2026-09", "--period", "2026-10", "--db", db, "--out", out3)
	if code != exitIncomplete {
		t.Fatalf("incomplete compare: exit %d, want %d: %s", code, exitIncomplete, stderr)
	}
	f, err := excelize.OpenFile(out3)
	if err != nil {
		t.Fatal(err)
	}
	banner, _ := f.GetCellValue("Summary", "B5")
	f.Close()
	if !strings.HasPrefix(banner, "INCOMPLETE") || !strings.Contains(banner, "base run") {
		t.Errorf("Summary banner %q", banner)
	}

	// A period without a run: exit 1, naming the period and how to fetch it.
	code, _, stderr = runCLI(t, "compare", "--base", "2026-08", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "x.xlsx"))
	if code != exitFailure || !strings.Contains(stderr, "2026-08") || !strings.Contains(stderr, "reconcile run --period 2026-08") {
		t.Errorf("missing period: exit %d: %s", code, stderr)
	}
	// Base newer than current works and says so.
	code, _, stderr = runCLI(t, "compare", "--base-run", "2", "--run", "1", "--db", db, "--out", filepath.Join(dir, "back.xlsx"))
	if code != exitOK || !strings.Contains(stderr, "bridge runs backwards") {
		t.Errorf("base newer: exit %d: %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "compare", "--base", "2026-10", "--db", db); code != exitUsage {
		t.Errorf("compare without a current run: exit %d, want %d", code, exitUsage)
	}

	// Trend: a month without a run is missing, never zero.
	code, stdout, stderr = runCLI(t, "trend", "--from", "2026-08", "--to", "2026-11", "--db", db, "--out", filepath.Join(dir, "t.xlsx"), "--json", "-")
	if code != exitOK {
		t.Fatalf("trend: exit %d: %s", code, stderr)
	}
	var tr struct {
		Periods []struct {
			Month  string            `json:"month"`
			Status string            `json:"status"`
			Totals []json.RawMessage `json:"totals"`
		} `json:"periods"`
	}
	if err := json.Unmarshal([]byte(stdout), &tr); err != nil || len(tr.Periods) != 4 {
		t.Fatalf("trend JSON: %v, %d periods", err, len(tr.Periods))
	}
	want := []string{"missing", "incomplete", "complete", "complete"}
	for i, p := range tr.Periods {
		if p.Status != want[i] || (p.Status == "missing") != (len(p.Totals) == 0) {
			t.Errorf("%s: status %s with %d totals, want %s", p.Month, p.Status, len(p.Totals), want[i])
		}
	}
	tf, err := excelize.OpenFile(filepath.Join(dir, "t.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	if got := strings.Join(tf.GetSheetList(), ","); got != "Summary,Periods,Customers,Run" {
		t.Errorf("trend sheets %s", got)
	}
	rows, _ := tf.GetRows("Periods")
	if len(rows) < 2 || rows[1][0] != "2026-08" || rows[1][1] != "missing" || len(rows[1]) > 3 && rows[1][4] != "" {
		t.Errorf("Periods row of the missing month: %v", rows[1])
	}
}
