package xlsx

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// wbRenderRef renders with the data rows through excelize's SetRow: the
// reference bytes for the row encoder and the compressed parts.
func wbRenderRef(t testing.TB, res *report.Result, info RunInfo, d Detail, opts WorkbookOptions) []byte {
	t.Helper()
	opts.excelizeRows = true
	return wbRender(t, res, info, d, opts)
}

// wbFillCellRefs returns sheet XML with every cell of its sheetData given
// its reference, as a reader infers an omitted one: the column after the
// previous cell's in the row, column A for a row's first cell.
func wbFillCellRefs(t testing.TB, xml string) string {
	t.Helper()
	start := strings.Index(xml, "<sheetData>")
	end := strings.Index(xml, "</sheetData>")
	if start < 0 || end < start {
		return xml
	}
	var b strings.Builder
	b.WriteString(xml[:start])
	rest := xml[start:end]
	row, col := "", 0
	for len(rest) > 0 {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, `<row r="`):
			n := strings.IndexByte(rest[len(`<row r="`):], '"')
			row, col = rest[len(`<row r="`):len(`<row r="`)+n], 0
		case strings.HasPrefix(rest, `<c r="`):
			ref := rest[len(`<c r="`):]
			ref = ref[:strings.IndexByte(ref, '"')]
			c, r, err := excelize.CellNameToCoordinates(ref)
			if err != nil || strconv.Itoa(r) != row {
				t.Fatalf("cell reference %q in row %s", ref, row)
			}
			if c <= col {
				t.Fatalf("cell %s does not follow column %d of its row", ref, col)
			}
			col = c
		case strings.HasPrefix(rest, "<c ") || strings.HasPrefix(rest, "<c>"):
			col++
			name, _ := excelize.ColumnNumberToName(col)
			b.WriteString(`<c r="` + name + row + `"`)
			rest = rest[len("<c"):]
			continue
		}
		b.WriteByte('<')
		rest = rest[1:]
	}
	b.WriteString(xml[end:])
	return b.String()
}

// wbSameAsExcelize fails unless the workbook got holds the parts of want,
// in the same order, each the same once the cell references the row
// encoder leaves out are filled back in (wbFillCellRefs).
func wbSameAsExcelize(t testing.TB, got, want []byte) {
	t.Helper()
	gn, gp := wbZipParts(t, got)
	wn, wp := wbZipParts(t, want)
	if strings.Join(gn, " ") != strings.Join(wn, " ") {
		t.Fatalf("parts %v, excelize %v", gn, wn)
	}
	for _, name := range wn {
		g, w := wbFillCellRefs(t, gp[name]), wp[name]
		if g == w {
			continue
		}
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		t.Fatalf("part %s differs from excelize's at byte %d:\n got %.200q\nwant %.200q", name, i, g[max(0, i-50):], w[max(0, i-50):])
	}
}

func TestWbFillCellRefs(t *testing.T) {
	in := `<x><c r="Z9"/><sheetData><row r="7"><c s="1"><v>1</v></c><c r="C7" t="inlineStr"><is><t>&lt;c a</t></is></c><c><v>2</v></c></row><row r="8"><c r="B8"></c><c t="b"></c></row></sheetData></x>`
	want := `<x><c r="Z9"/><sheetData><row r="7"><c r="A7" s="1"><v>1</v></c><c r="C7" t="inlineStr"><is><t>&lt;c a</t></is></c><c r="D7"><v>2</v></c></row><row r="8"><c r="B8"></c><c r="C8" t="b"></c></row></sheetData></x>`
	if got := wbFillCellRefs(t, in); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestWorkbookFastRowsMatchExcelize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		complete bool
		maxRows  int
	}{
		{"incomplete", false, 0},
		{"complete", true, 0},
		{"split-1", true, 1},
		{"split-3", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, info, d := wbFixture(tc.complete)
			opts := WorkbookOptions{MaxRowsPerSheet: tc.maxRows}
			got := wbRender(t, res, info, d, opts)
			want := wbRenderRef(t, res, info, d, opts)
			wbSameAsExcelize(t, got, want)
		})
	}
}

// wbTrickyStrings exercise every branch of the text encoding.
var wbTrickyStrings = []string{
	"plain", " lead", "trail ", "\tTab", "nl\n", "\rcr", "a\nb\r\nc\td", `<&>"'`, "&#xA;", "=1+1", "-2", "0012345",
	"_x0041_", "a_x0041_b_x00e9_", "_x005F_", "_x005F_x0041_", "_x005F_x12", "_xZZZZ_", "__x1234__", "_X0041_",
	"é accent Québec", "日本語", "emoji 😀", "bad \xff byte", "ctl \x01\x1f\x7f", "\uFFFE\uFFFF", "\uFFFD", "\u2028",
	"surrogate-ish \xed\xa0\x80", strings.Repeat("ab", 17000), strings.Repeat("é", 33000),
	strings.Repeat("😀", 16384) + "x", strings.Repeat("x", 32766) + "😀",
}

// wbTrickyDetail emits payable and receivable lines with tricky text and
// amounts in every column.
type wbTrickyDetail struct {
	payables    []billing.PayableCharge
	receivables []wbRecv
}

func (d *wbTrickyDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	for i := range d.payables {
		if err := fn(&d.payables[i]); err != nil {
			return err
		}
	}
	return nil
}

func (d *wbTrickyDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	for i := range d.receivables {
		if err := fn(d.receivables[i].customerID, &d.receivables[i].c); err != nil {
			return err
		}
	}
	return nil
}

func wbRandDecimal(r *rand.Rand) decimal.NullDecimal {
	switch r.IntN(8) {
	case 0:
		return decimal.NullDecimal{}
	case 1: // many significant digits: Excel's 15-digit cut
		return decimal.NewNullDecimal(decimal.New(r.Int64(), -int32(r.IntN(20))))
	case 2: // huge and tiny
		return decimal.NewNullDecimal(decimal.New(r.Int64N(1000)+1, int32(r.IntN(40)-20)))
	case 3:
		return decimal.NewNullDecimal(decimal.New(-r.Int64N(1e12), -int32(r.IntN(8))))
	case 4:
		return decimal.NewNullDecimal(decimal.New(0, -2))
	default:
		return decimal.NewNullDecimal(decimal.New(r.Int64N(1e9)-5e8, -int32(r.IntN(7))))
	}
}

func TestRowEncoderMatchesExcelize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() string {
		if r.IntN(4) == 0 {
			return ""
		}
		return wbTrickyStrings[r.IntN(len(wbTrickyStrings))]
	}
	d := &wbTrickyDetail{}
	for i := 0; i < 300; i++ {
		c := billing.PayableCharge{
			ProductID: pick(), ProductName: pick(), SKU: pick(), ChargeID: pick(), ChargeName: pick(),
			ChargeType: pick(), BillingCycleType: pick(), PeriodFrom: billing.Date(pick()), PeriodTo: billing.Date(pick()),
			Quantity: wbRandDecimal(r), ListPrice: wbRandDecimal(r), NetPrice: wbRandDecimal(r),
			NetPriceProrated: wbRandDecimal(r), SubTotal: wbRandDecimal(r), Currency: []string{"USD", "CAD", "", "€"}[r.IntN(4)],
			Tags:       []billing.Tag{{Name: "CustomerId", Value: []string{"C1", "C2", "zz"}[r.IntN(3)]}, {Name: pick(), Value: pick()}},
			Deductions: []billing.Deduction{{Code: pick(), TotalValue: wbRandDecimal(r)}},
			Taxes:      []billing.Tax{{Name: pick(), AppliedRate: wbRandDecimal(r)}},
			Fees:       []billing.Fee{{Name: pick(), UnitValue: wbRandDecimal(r)}},
			Invoice:    &billing.Invoice{Number: pick(), Date: billing.Date(pick())},
		}
		if r.IntN(2) == 0 {
			c.IsBilled = wbBool(r.IntN(2) == 0)
		}
		d.payables = append(d.payables, c)
		rc := wbRecv{customerID: []string{"C1", "C2", pick()}[r.IntN(3)], c: billing.ReceivableCharge{
			ProductName: pick(), SKU: pick(), ChargeID: pick(), ChargeName: pick(), ChargeType: pick(),
			Quantity: wbRandDecimal(r), CostPrice: wbRandDecimal(r), CostPriceProrated: wbRandDecimal(r),
			Currency: "USD", IsProratable: wbBool(true),
		}}
		d.receivables = append(d.receivables, rc)
	}
	res := &report.Result{
		RunID: "run-x", Period: billing.Period{From: "2026-10-01", To: "2026-10-31"}, Complete: true,
		Customers: []report.CustomerRow{{CustomerID: "C1", CustomerName: pick() + "x", Currency: "USD"}, {CustomerID: "C2", CustomerName: "_x0041_ é", Currency: "USD"}},
	}
	wbAttrs.Store(res, wbAttribute(map[string]string{"C1": "", "C2": "Two"}))
	info := RunInfo{Calls: math.MaxInt64, Retries: -1, Settings: [][2]string{{" a ", "\n"}}}
	for _, maxRows := range []int{0, 7} {
		opts := WorkbookOptions{MaxRowsPerSheet: maxRows}
		got := wbRender(t, res, info, d, opts)
		want := wbRenderRef(t, res, info, d, opts)
		wbSameAsExcelize(t, got, want)
	}
}

func TestAppendCellFloat(t *testing.T) {
	// Compared with excelize writing the same floats through SetRow.
	values := []float64{0, 1, -1, 0.1, 1e21, 1e-7, 123456789012345678, 0.1234567890123456789, -98765.43210987654321,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1.5e300, 12345678901234.5678, 100000000000000000000000,
		// whole numbers on both sides of the integer fast path (10^15), and -0
		math.Copysign(0, -1), 3, -42, 999999999999999, -999999999999999, 1e15, -1e15, 1e15 + 2, 1 << 53, 1<<53 + 2, 1e16}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		values = append(values, math.Float64frombits(r.Uint64()))
	}
	for i := 0; i < 200; i++ {
		values = append(values, float64(r.Int64N(2e15)-1e15), float64(r.Int64N(20000)-10000))
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	var enc rowEncoder
	var mine []byte
	for i, v := range values {
		if err := sw.SetRow("A"+strconv.Itoa(i+1), []any{v}); err != nil {
			t.Fatal(err)
		}
		mine = enc.appendRow(mine, i+1, []cell{{kind: cellFloat, num: v}})
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	_, parts := wbZipParts(t, buf.Bytes())
	sheet := parts["xl/worksheets/sheet1.xml"]
	mine = []byte(wbFillCellRefs(t, "<sheetData>"+string(mine)+"</sheetData>"))
	if !strings.Contains(sheet, string(mine)) {
		i := strings.Index(sheet, "<sheetData>") + len("<sheetData>")
		t.Fatalf("rows differ from excelize's:\n got %.300s\nwant %.300s", mine, sheet[i:])
	}
}

func TestWorkbookPartMarkerMissing(t *testing.T) {
	// A compressed part whose marker never reaches the zip must fail the
	// render.
	var out bytes.Buffer
	dir := t.TempDir()
	parts, err := newPartSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.cleanup()
	p, err := parts.start([]byte("<worksheet><sheetData>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.row(2, []cell{textCell("x")}); err != nil {
		t.Fatal(err)
	}
	parts.marker(p)
	p.end([]byte("</sheetData></worksheet>"))
	z := newSortedZip(&out, dir)
	defer z.cleanup()
	z.splice(parts)
	w, err := z.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`<worksheet><sheetData></sheetData></worksheet>`)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err == nil || !strings.Contains(err.Error(), "not written") {
		t.Fatalf("Close = %v, want an error about unwritten rows", err)
	}
}

func TestWorkbookPartOpeningDiffers(t *testing.T) {
	// A sheet whose opening is not the one its rows were compressed with
	// must fail the render, never give a different sheet.
	var out bytes.Buffer
	dir := t.TempDir()
	parts, err := newPartSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.cleanup()
	p, err := parts.start([]byte("<worksheet><sheetData>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.row(2, []cell{textCell("x")}); err != nil {
		t.Fatal(err)
	}
	marker := markerRow(parts.marker(p))
	p.end([]byte("</sheetData></worksheet>"))
	z := newSortedZip(&out, dir)
	defer z.cleanup()
	z.splice(parts)
	w, err := z.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`<worksheet x="1"><sheetData>` + marker + `</sheetData></worksheet>`)); err == nil || !strings.Contains(err.Error(), "opening differs") {
		t.Fatalf("Write = %v, want an error about the sheet's opening", err)
	}
}

func TestWorkbookNoTempFilesLeft(t *testing.T) {
	tmp := t.TempDir()
	res, info, d := wbFixture(true)
	wbRender(t, res, info, d, WorkbookOptions{TmpDir: tmp})
	d.failAt = 2
	var out bytes.Buffer
	if err := RenderWorkbook(context.Background(), &out, res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: tmp}); !errors.Is(err, errDetail) {
		t.Fatalf("err = %v, want errDetail", err)
	}
	if got := wbDirEntries(t, tmp); len(got) != 0 {
		t.Errorf("tmp dir holds %q", got)
	}
}

func TestAppendTextMatchesBillingText(t *testing.T) {
	lits := []string{"0", "0.00", "-0.05", "15.20", "45", "-1.69", "0.000001", "123456789012345678", "-123456789012.345678",
		"1234567890123456789", "0.1234567890123456789", "1e3", "-1e-20", "9.975", "100", "-100.000"}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 2000; i++ {
		lits = append(lits, decimal.New(r.Int64N(1<<62)-1<<61, -int32(r.IntN(22))).String())
	}
	for _, lit := range lits {
		d, err := decimal.NewFromString(lit)
		if err != nil {
			t.Fatal(err)
		}
		want := billing.Text(d)
		if got := string(appendText([]byte("x"), d)); got != "x"+want {
			t.Errorf("appendText(%s) = %q, want %q", lit, got[1:], want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = appendText(make([]byte, 0, 64), decimal.New(-169, -2)) }); n > 1 {
		t.Errorf("appendText allocates %.0f times, want at most the destination", n)
	}
}

func TestWorkbookPartClosingDiffers(t *testing.T) {
	// A sheet whose closing is not the one its part was completed with must
	// fail the render.
	var out bytes.Buffer
	dir := t.TempDir()
	parts, err := newPartSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.cleanup()
	p, err := parts.start([]byte("<worksheet><sheetData>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.row(2, []cell{textCell("x")}); err != nil {
		t.Fatal(err)
	}
	marker := markerRow(parts.marker(p))
	p.end([]byte("</sheetData></worksheet>"))
	z := newSortedZip(&out, dir)
	defer z.cleanup()
	z.splice(parts)
	w, err := z.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`<worksheet><sheetData>` + marker + `</sheetData><autoFilter/></worksheet>`)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err == nil || !strings.Contains(err.Error(), "closing differs") {
		t.Fatalf("Close = %v, want an error about the sheet's closing", err)
	}
}

func TestWorkbookManyChunksMatchExcelize(t *testing.T) {
	// Enough rows for many compressor chunks and a continuation sheet.
	res, info, _ := wbFixture(true)
	d := wbGenDetail{n: 12000}
	opts := WorkbookOptions{MaxRowsPerSheet: 7000}
	got := wbRender(t, res, info, d, opts)
	want := wbRenderRef(t, res, info, d, opts)
	wbSameAsExcelize(t, got, want)
}
