package xlsx

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// sumFind returns the 1-based rows whose column A is text.
func sumFind(rows [][]string, text string) []int {
	var out []int
	for i, r := range rows {
		if len(r) > 0 && r[0] == text {
			out = append(out, i+1)
		}
	}
	return out
}

func sumCell(col, row int) string {
	c, _ := excelize.CoordinatesToCellName(col, row)
	return c
}

func TestWorkbookSummaryPage(t *testing.T) {
	for _, complete := range []bool{true, false} {
		t.Run(fmt.Sprintf("complete=%v", complete), func(t *testing.T) {
			res, info, d := wbFixture(complete)
			data := wbRender(t, res, info, d, WorkbookOptions{})
			f := wbOpen(t, data)
			rows, err := f.GetRows(SheetSummary)
			if err != nil {
				t.Fatal(err)
			}
			// Title block and banner.
			wantText(t, f, SheetSummary, "A1", summaryTitle)
			wantText(t, f, SheetSummary, "A2", "Period 2026-10-01 to 2026-10-31")
			wantText(t, f, SheetSummary, "B2", "Run ID")
			wantText(t, f, SheetSummary, "C2", "run-1")
			wantText(t, f, SheetSummary, "E2", info.FinishedAt)
			wantText(t, f, SheetSummary, "H2", info.ToolVersion)
			banner, fill := "COMPLETE — receivables of all 4 customer(s) fetched", colorGoodFill
			if !complete {
				banner, fill = "INCOMPLETE — receivables missing for 1 customer(s) (1 could not be fetched): their receivables are left out", colorBadFill
			}
			if got, _ := f.GetCellValue(SheetSummary, "A3"); !strings.HasPrefix(got, banner) {
				t.Errorf("banner %q, want prefix %q", got, banner)
			}
			if got := wbFillColor(t, f, SheetSummary, "A3"); got != fill {
				t.Errorf("banner fill %q, want %q", got, fill)
			}

			// Totals per currency equal the Result, as numbers.
			h := sumFind(rows, headingTotals)
			if len(h) != 1 {
				t.Fatalf("totals heading rows %v", h)
			}
			first := h[0] + 2
			for i, tt := range res.Totals {
				r := first + i
				wantText(t, f, SheetSummary, sumCell(sumA, r), tt.Currency)
				wantNumber(t, f, SheetSummary, sumCell(sumD, r), tt.Payable)
				wantNumber(t, f, SheetSummary, sumCell(sumE, r), tt.Receivable)
				wantNumber(t, f, SheetSummary, sumCell(sumF, r), tt.Margin)
				pct, _ := report.MarginPercent(tt.Margin, tt.Receivable)
				wantNumber(t, f, SheetSummary, sumCell(sumG, r), pct.Shift(-2))
				if nf := wbNumFmt(t, f, SheetSummary, sumCell(sumD, r)); !strings.Contains(nf, tt.Currency) {
					t.Errorf("totals %s payable format %q", tt.Currency, nf)
				}
			}

			// Findings per kind, with labels, counts and amounts.
			for _, k := range res.FindingSummary() {
				at := sumFind(rows, k.Label)
				if len(at) == 0 {
					t.Errorf("no findings row labelled %q", k.Label)
					continue
				}
				r := at[0]
				if len(k.ByCurrency) == 0 {
					wantNumber(t, f, SheetSummary, sumCell(sumC, r), decimal.Zero)
					continue
				}
				a := k.ByCurrency[0]
				wantText(t, f, SheetSummary, sumCell(sumB, r), a.Currency)
				wantNumber(t, f, SheetSummary, sumCell(sumC, r), decimal.NewFromInt(int64(a.Count)))
				wantNumber(t, f, SheetSummary, sumCell(sumF, r), a.Difference)
			}

			// Largest findings: by absolute difference, with customer names.
			lh := sumFind(rows, headingLargest+" (by absolute difference; currencies not converted)")
			if len(lh) != 1 {
				t.Fatalf("largest heading rows %v", lh)
			}
			top := res.LargestFindings(summaryTopN)
			if len(top) != len(res.Mismatches) || len(top) > summaryTopN {
				t.Fatalf("top %d of %d", len(top), len(res.Mismatches))
			}
			for i := range top {
				r := lh[0] + 2 + i
				wantText(t, f, SheetSummary, sumCell(sumA, r), report.KindLabel(top[i].Kind))
				wantNumber(t, f, SheetSummary, sumCell(sumF, r), top[i].Difference())
				if i > 0 && top[i].Difference().Abs().Cmp(top[i-1].Difference().Abs()) > 0 {
					t.Errorf("top %d larger than top %d", i, i-1)
				}
			}
			who, _ := f.GetCellValue(SheetSummary, sumCell(sumH, lh[0]+2+1))
			if who != "Acme · SKU-C" {
				t.Errorf("second largest: customer %q", who)
			}
			var sawTags bool
			for i := range top {
				v, _ := f.GetCellValue(SheetSummary, sumCell(sumH, lh[0]+2+i))
				sawTags = sawTags || strings.Contains(v, "no customer (no_customer_tag): Team=ops; Site=Lyon · SKU-U")
			}
			if !sawTags {
				t.Error("unattributed top finding lacks its tags and charge id")
			}

			// Coverage names the missing customer.
			if at := sumFind(rows, "    Gamma (C4)"); len(at) != 1 {
				t.Error("missing customer not listed")
			} else {
				wantText(t, f, SheetSummary, sumCell(sumH, at[0]), "fetch_failed: HTTP 500 after 3 attempts")
			}

			// The chart: one series per currency, each its totals row, with a
			// money-formatted axis and dark labels.
			_, parts := wbZipParts(t, data)
			x, ok := parts["xl/charts/chart1.xml"]
			if !ok {
				t.Fatal("no chart part")
			}
			if n := strings.Count(x, "<ser>"); n != len(res.Totals) {
				t.Errorf("chart has %d series, want %d (one per currency)", n, len(res.Totals))
			}
			for i := range res.Totals {
				r := first + i
				for _, ref := range []string{
					fmt.Sprintf("Summary!$A$%d", r), fmt.Sprintf("Summary!$D$%d:$F$%d", r, r),
				} {
					if !strings.Contains(x, ref) {
						t.Errorf("chart XML lacks %q", ref)
					}
				}
			}
			if !strings.Contains(x, `formatCode="#,##0"`) || !strings.Contains(x, `val="262626"`) {
				t.Error("chart axis not money-formatted or labels not dark")
			}
			anchor := regexp.MustCompile(`<xdr:from><xdr:col>(\d+)</xdr:col>`).FindStringSubmatch(parts["xl/drawings/drawing1.xml"])
			if len(anchor) != 2 || anchor[1] != strconv.Itoa(sumH-1) {
				t.Errorf("chart anchored at column %v, want H (beside the totals)", anchor)
			}

			// Print set-up: landscape, one page, period and run id in the header.
			sx := wbSheetXML(t, parts, SheetSummary)
			for _, w := range []string{`<pageSetUpPr fitToPage="true"`, `orientation="landscape"`, `fitToWidth="1"`, `fitToHeight="1"`,
				"Period 2026-10-01 to 2026-10-31", "Run run-1"} {
				if !strings.Contains(sx, w) {
					t.Errorf("Summary sheet XML lacks %q", w)
				}
			}
		})
	}
}

// Every table sheet prints landscape, one page wide, with its header row
// repeated on every page and the period and run id in the header.
func TestWorkbookTableSheetsPrintSetup(t *testing.T) {
	res, info, d := wbFixture(true)
	data := wbRender(t, res, info, d, WorkbookOptions{MaxRowsPerSheet: 2})
	f := wbOpen(t, data)
	_, parts := wbZipParts(t, data)
	for _, sheet := range f.GetSheetList()[1:] {
		x := wbSheetXML(t, parts, sheet)
		for _, w := range []string{`<pageSetUpPr fitToPage="true"`, `orientation="landscape"`, `fitToWidth="1"`, `fitToHeight="0"`,
			"Period 2026-10-01 to 2026-10-31", "Run run-1"} {
			if !strings.Contains(x, w) {
				t.Errorf("%s: sheet XML lacks %q", sheet, w)
			}
		}
		dn := f.GetDefinedName()
		var found bool
		for _, n := range dn {
			if n.Name == "_xlnm.Print_Titles" && n.Scope == sheet && n.RefersTo == quoteSheet(sheet)+"!$1:$1" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no print titles for row 1 (%+v)", sheet, dn)
		}
	}
}

// The Invoices sheet ties out: its rows (invoices and the no-invoice row)
// add up, exactly, to the payable total of each currency.
func TestWorkbookInvoicesTieOut(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	rows, err := f.GetRows(SheetInvoices, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows)-1 != len(res.Invoices) {
		t.Fatalf("%d invoice rows, want %d", len(rows)-1, len(res.Invoices))
	}
	sums := map[string]decimal.Decimal{}
	var noInvoice int
	for i, r := range rows[1:] {
		row := strconv.Itoa(i + 2)
		iv := res.Invoices[i]
		wantNumber(t, f, SheetInvoices, "D"+row, decimal.NewFromInt(int64(iv.Lines)))
		amt, err := decimal.NewFromString(r[4])
		if err != nil {
			t.Fatalf("row %s payable %q: %v", row, r[4], err)
		}
		sums[r[2]] = sums[r[2]].Add(amt)
		if r[0] == "" {
			noInvoice++
			wantText(t, f, SheetInvoices, "F"+row, noInvoiceNote)
		} else {
			wantText(t, f, SheetInvoices, "A"+row, iv.Number)
			wantText(t, f, SheetInvoices, "B"+row, string(iv.Date))
		}
	}
	if noInvoice != 1 {
		t.Errorf("%d no-invoice rows, want 1", noInvoice)
	}
	for _, tot := range res.Totals {
		if sums[tot.Currency].Cmp(tot.Payable) != 0 {
			t.Errorf("%s: invoice rows add up to %s, payable total %s", tot.Currency, sums[tot.Currency], tot.Payable)
		}
	}
}

// An unattributed row of the Mismatches sheet carries the tags that failed
// to match, the charge id and the invoice; every row has its label.
func TestWorkbookUnattributedRowIsActionable(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	rows, _ := f.GetRows(SheetMismatches)
	var found bool
	for i, r := range rows[1:] {
		row := strconv.Itoa(i + 2)
		wantText(t, f, SheetMismatches, "B"+row, report.KindLabel(r[0]))
		if r[0] != report.KindUnattributed {
			continue
		}
		found = true
		wantText(t, f, SheetMismatches, "E"+row, "SKU-U")
		wantText(t, f, SheetMismatches, "Q"+row, "ch--SKU-U")
		wantText(t, f, SheetMismatches, "R"+row, "INV-1002")
		wantText(t, f, SheetMismatches, "S"+row, "Team=ops; Site=Lyon")
		wantText(t, f, SheetMismatches, "T"+row, report.Fingerprint(&res.Mismatches[i]))
	}
	if !found {
		t.Fatal("no unattributed row")
	}
}

// Quantities show thousands separators; columns are wide enough for their
// amounts.
func TestWorkbookQuantityFormatAndWidths(t *testing.T) {
	res, info, d := wbFixture(true)
	res.Products[0].PayableQty = wbDec("1234567")
	res.Mismatches[3].PayableAmount = wbDec("-123456789.99")
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	id, _ := f.GetCellStyle(SheetProducts, "D2")
	if st, err := f.GetStyle(id); err != nil || st.NumFmt != 3 || st.CustomNumFmt != nil { // 3 is #,##0
		t.Errorf("whole quantity style %+v, %v", st, err)
	}
	if nf := wbNumFmt(t, f, SheetProducts, "E2"); nf != "#,##0.0#########" {
		t.Errorf("fractional quantity format %q", nf)
	}
	w, err := f.GetColWidth(SheetMismatches, "O")
	if err != nil {
		t.Fatal(err)
	}
	if need := float64(len("-123,456,789.99 USD")); w < need {
		t.Errorf("Difference column width %v, want at least %v", w, need)
	}
}
