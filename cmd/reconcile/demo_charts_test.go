package main

import (
	"archive/zip"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestSampleComparisonChartsUnderTheTables: the comparison's waterfall
// charts sit in column A under the Summary's tables and above the waterfall
// data (not to the right of the tables, which printed the page one page wide
// at an unreadable size), each printed chart after the first on a page of
// its own.
func TestSampleComparisonChartsUnderTheTables(t *testing.T) {
	dbtest.NoLedger(t)
	const path = "../../sample-output/comparison-2026-09-01_2026-09-30-vs-2026-10-01_2026-10-31.xlsx"
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("Summary")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	bridgeEnd, dataStart := 0, 0
	for i, r := range rows {
		if len(r) == 0 {
			continue
		}
		if r[0] == "Margin bridge" {
			bridgeEnd = i + 1
			for bridgeEnd < len(rows) && len(rows[bridgeEnd]) > 0 {
				bridgeEnd++
			}
		}
		if strings.HasPrefix(r[0], "Waterfall data") && dataStart == 0 {
			dataStart = i // 0-based, as the drawing's rows
		}
	}
	if bridgeEnd == 0 || dataStart == 0 {
		t.Fatalf("Summary: margin bridge ends at %d, waterfall data at %d", bridgeEnd, dataStart)
	}

	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	read := func(name string) string {
		for _, zf := range z.File {
			if zf.Name == name {
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
		t.Fatalf("%s: no %s", path, name)
		return ""
	}
	drawing := read("xl/drawings/drawing1.xml")
	anchors := regexp.MustCompile(`<xdr:from><xdr:col>(\d+)</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)</xdr:row>`).FindAllStringSubmatch(drawing, -1)
	if len(anchors) != 3 {
		t.Fatalf("%d chart anchors on the Summary, want 3 (CAD, EUR, USD)", len(anchors))
	}
	var chartRows []int
	for _, a := range anchors {
		col, _ := strconv.Atoi(a[1])
		row, _ := strconv.Atoi(a[2])
		if col != 0 || row < bridgeEnd || row >= dataStart {
			t.Errorf("chart anchored at column %d row %d, want column 0 between the bridge table (ends %d) and the waterfall data (%d)", col, row, bridgeEnd, dataStart)
		}
		chartRows = append(chartRows, row)
	}
	sheet := read("xl/worksheets/sheet1.xml")
	for _, row := range append(chartRows[1:], dataStart) {
		// A break after 0-based row r-1 is <brk id="r-1"...> in 1-based ids: the row before r.
		if !strings.Contains(sheet, `<brk id="`+strconv.Itoa(row)+`"`) {
			t.Errorf("no page break before row %d (1-based %d)", row, row+1)
		}
	}
}
