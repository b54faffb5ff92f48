package xlsx

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// update rewrites golden files under testdata
// (go test ./internal/report/xlsx -update).
var update = flag.Bool("update", false, "rewrite golden files under testdata")

// wbDump renders every sheet of an xlsx as TSV, read back through excelize
// with raw cell values: "## <sheet>" then one line per row. A string cell
// that could be mistaken for a number or formula ("-2", "=1+1", "0012345")
// is shown with a leading ' as Excel does; tabs, newlines and backslashes
// are escaped.
func wbDump(t testing.TB, data []byte) string {
	t.Helper()
	f := wbOpen(t, data)
	var b strings.Builder
	for _, sheet := range f.GetSheetList() {
		b.WriteString("## " + sheet + "\n")
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatalf("GetRows(%s): %v", sheet, err)
		}
		for r, row := range rows {
			for c, v := range row {
				if c > 0 {
					b.WriteByte('\t')
				}
				if v == "" {
					continue
				}
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				typ, _ := f.GetCellType(sheet, cell)
				if (typ == excelize.CellTypeInlineString || typ == excelize.CellTypeSharedString) && wbLooksSpecial(v) {
					v = "'" + v
				}
				v = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace(v)
				b.WriteString(v)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func wbLooksSpecial(s string) bool {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	return strings.ContainsAny(s[:1], "=+-@'")
}

func TestWorkbookGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		complete bool
		maxRows  int
	}{
		{"incomplete", false, 0},
		{"complete-split", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, info, d := wbFixture(tc.complete)
			got := wbDump(t, wbRender(t, res, info, d, WorkbookOptions{MaxRowsPerSheet: tc.maxRows}))
			path := filepath.Join("testdata", "workbook", tc.name+".tsv")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Errorf("workbook dump differs from %s (run with -update and review the diff):\n%s", path, wbLineDiff(string(want), got))
			}
		})
	}
}

// wbLineDiff lists the lines that differ, position by position.
func wbLineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
