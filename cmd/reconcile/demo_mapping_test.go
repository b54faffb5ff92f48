package main

import (
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestDemoShowsMapping: the demo configuration (demo.toml) maps the
// simulator's old customer name, so the sample's Payable sheet attributes
// those lines by "mapping" and none is left unattributed.
func TestDemoShowsMapping(t *testing.T) {
	dbtest.NoLedger(t)
	f, err := excelize.OpenFile("../../sample-output/reconciliation-2026-10-01_2026-10-31.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Payable")
	if err != nil || len(rows) < 2 {
		t.Fatalf("Payable sheet: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	n := 0
	for _, r := range rows[1:] {
		if len(r) > col["Tags"] && strings.Contains(r[col["Tags"]], "CustomerDisplayName=Legacy Holdings Ltd") {
			n++
			if r[col["Attribution"]] != "mapping" || r[col["Customer ID"]] != "a911de6d-572e-4ddd-bce8-b55f6c841dda" {
				t.Errorf("Legacy Holdings Ltd line attributed %q to %q, want mapping to the demo customer", r[col["Attribution"]], r[col["Customer ID"]])
			}
		}
	}
	if n == 0 {
		t.Error("the sample has no Legacy Holdings Ltd line")
	}
}
