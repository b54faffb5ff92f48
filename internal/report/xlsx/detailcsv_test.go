package xlsx

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
)

func csvRead(t testing.TB, path string) [][]string {
	t.Helper()
	data := mustRead(t, path)
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Errorf("%s does not end with CRLF", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recs
}

// csvText is a text field as the CSV files write it (protected against CSV
// injection), for the tests.
func csvText(s string) string {
	if csvInjects(s) {
		return "'" + s
	}
	return s
}

func csvHeader(cols []column) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.name
	}
	return h
}

// csvUnprefix undoes the CSV-injection quote of a text field.
func csvUnprefix(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

// csvWantDec checks an exact decimal field against the source amount.
func csvWantDec(t testing.TB, where, got string, want decimal.NullDecimal) {
	t.Helper()
	if !want.Valid {
		if got != "" {
			t.Errorf("%s = %q, want empty (absent amount)", where, got)
		}
		return
	}
	if got != billing.Text(want.Decimal) {
		t.Errorf("%s = %q, want %q", where, got, billing.Text(want.Decimal))
	}
}

func TestWriteWorkbookDetailCSV(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "recon-2026-10.xlsx")
	res, info, d := wbFixture(true)
	if err := WriteWorkbook(ctx, path, res, wbAttrOf(res), info, d, WorkbookOptions{Detail: DetailCSV}); err != nil {
		t.Fatal(err)
	}
	payPath, recPath := DetailCSVPaths(path)
	if got, want := wbDirEntries(t, dir), []string{"recon-2026-10-payable.csv", "recon-2026-10-receivable.csv", "recon-2026-10.xlsx"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
	wantPerm := testkit.NewFilePerm(t, dir)
	for _, p := range []string{payPath, recPath, path} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != wantPerm {
			t.Errorf("%s: %v, %v; want mode %v", p, fi, err, wantPerm)
		}
	}

	// The workbook: six sheets, and the Summary says where the detail is.
	f := wbOpen(t, mustRead(t, path))
	if got, want := f.GetSheetList(), []string{SheetSummary, SheetCustomers, SheetProducts, SheetMismatches, SheetInvoices, SheetRun}; !slices.Equal(got, want) {
		t.Errorf("sheets = %q, want %q", got, want)
	}
	rows, err := f.GetRows(SheetSummary)
	if err != nil {
		t.Fatal(err)
	}
	notes := map[string]string{}
	for _, r := range rows {
		if len(r) > 7 && strings.HasSuffix(r[0], " detail") {
			notes[r[0]] = r[7]
		}
	}
	if notes["Payable detail"] != "recon-2026-10-payable.csv" || notes["Receivable detail"] != "recon-2026-10-receivable.csv" {
		t.Errorf("summary detail notes = %q", notes)
	}

	// Payable CSV: header, then every line with exact amounts.
	pay := csvRead(t, payPath)
	if want := csvHeader(payableColumns); !slices.Equal(pay[0], want) {
		t.Errorf("payable header = %q, want %q", pay[0], want)
	}
	if len(pay) != len(d.payables)+1 {
		t.Fatalf("payable csv has %d rows, want %d", len(pay), len(d.payables)+1)
	}
	names := customerNames(res)
	for i := range d.payables {
		c, rec := &d.payables[i], pay[i+1]
		if len(rec) != len(payableColumns) {
			t.Fatalf("payable row %d has %d fields", i+1, len(rec))
		}
		id, name, attribution := attributePayable(wbAttrOf(res), names, c)
		texts := []string{id, name, attribution, c.ProductID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName,
			c.ChargeType, c.BillingCycleType, string(c.PeriodFrom), string(c.PeriodTo)}
		for j, want := range texts {
			if got := csvUnprefix(rec[j]); got != want {
				t.Errorf("payable row %d %s = %q, want %q", i+1, payableColumns[j].name, rec[j], want)
			}
		}
		for j, want := range []decimal.NullDecimal{c.Quantity, c.ListPrice, c.NetPrice, c.NetPriceProrated, c.SubTotal} {
			csvWantDec(t, "payable "+payableColumns[12+j].name, rec[12+j], want)
		}
		if rec[17] != c.Currency || csvUnprefix(rec[24]) != tagsText(c.Tags) || rec[21] != deductionsText(c.Deductions) {
			t.Errorf("payable row %d = %q", i+1, rec)
		}
	}
	// Fixture line 1 in full: injection quotes on text, none on numbers.
	want1 := []string{"0012345", "'=1+1", "attributed", "prod-+SUM(A1)", "'-2", "'+SUM(A1)", "0012345", "'=1+1",
		"Recurring", "Monthly", "2026-10-01", "2026-10-31", "3", "", "333.333333", "333.333333", "1000.00", "USD",
		"yes", "no", "INV-1001 2026-11-01", "PROMO:-1.69; Loyalty:-0.50", "Setup:10.00", "GST:5; QST:9.975",
		"CustomerId=0012345; Env=@x"}
	if !slices.Equal(pay[1], want1) {
		t.Errorf("payable row 1 =\n%q\nwant\n%q", pay[1], want1)
	}
	if pay[2][18] != "" || pay[5][2] != report.ReasonNoCustomerTag || pay[5][0] != "" {
		t.Errorf("row 2 billed %q (want empty), row 5 attribution %q id %q", pay[2][18], pay[5][2], pay[5][0])
	}

	// Receivable CSV.
	rec := csvRead(t, recPath)
	if want := csvHeader(receivableColumns); !slices.Equal(rec[0], want) {
		t.Errorf("receivable header = %q, want %q", rec[0], want)
	}
	if len(rec) != len(d.receivables)+1 {
		t.Fatalf("receivable csv has %d rows, want %d", len(rec), len(d.receivables)+1)
	}
	for i, r := range d.receivables {
		got := rec[i+1]
		if csvUnprefix(got[0]) != r.customerID || csvUnprefix(got[1]) != names[r.customerID] || csvUnprefix(got[3]) != r.c.SKU {
			t.Errorf("receivable row %d = %q", i+1, got)
		}
		csvWantDec(t, "receivable Quantity", got[10], r.c.Quantity)
		csvWantDec(t, "receivable Cost Price", got[11], r.c.CostPrice)
		csvWantDec(t, "receivable Cost Price Prorated", got[12], r.c.CostPriceProrated)
		csvWantDec(t, "receivable Amount", got[13], decimal.NewNullDecimal(r.c.Amount()))
	}
	if want := []string{"0012345", "'=1+1", "'-2", "'+SUM(A1)", "rc-0012345-+SUM(A1)", "'-2", "Recurring", "Monthly",
		"2026-10-01", "2026-10-31", "2.5", "", "560.05", "1400.125", "USD", "yes"}; !slices.Equal(rec[1], want) {
		t.Errorf("receivable row 1 =\n%q\nwant\n%q", rec[1], want)
	}
}

func TestCSVText(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "abc": "abc", "=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@SUM": "'@SUM", "\tx": "'\tx",
		"\rx": "'\rx", "'quoted": "'quoted", "a=b": "a=b", "0012345": "0012345",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCSVWriterBytes checks the detail files' encoder against
// encoding/csv's Writer with UseCRLF, byte for byte: the edge cases of its
// quoting (separators, quotes, CR and LF, `\.`, a leading space of any kind,
// invalid UTF-8) and random records of them, as text fields (with csvText's
// quote) and as plain fields.
func TestCSVWriterBytes(t *testing.T) {
	edges := []string{"", "abc", `\.`, `\.x`, `x\.`, " a", "a ", "\ta", "\va", "\fa", "\u00a0a", "\u0085a", "\u2028a",
		"\u3000a", "\u200ba", "a\rb", "a\nb", "a\r\nb", "\r", "\n", `a"b`, `"`, `""`, "a,b", ",", "=1+1", "+1", "-2",
		"@x", "'x", "é", "\xff", "\xff\xfe ", "1.50", "-0.000001", "yes"}
	encode := func(fields []string, text []bool) (got, want []byte) {
		var gotBuf, wantBuf bytes.Buffer
		cw := newCSVWriter(&gotBuf)
		ref := csv.NewWriter(&wantBuf)
		ref.UseCRLF = true
		rec := make([]string, len(fields))
		for i, f := range fields {
			if text[i] {
				cw.text(f)
				rec[i] = csvText(f)
			} else {
				cw.field(f)
				rec[i] = f
			}
		}
		if err := cw.record(); err != nil {
			t.Fatal(err)
		}
		if err := cw.flush(); err != nil {
			t.Fatal(err)
		}
		if err := ref.Write(rec); err != nil {
			t.Fatal(err)
		}
		ref.Flush()
		return gotBuf.Bytes(), wantBuf.Bytes()
	}
	for _, e := range edges {
		for _, text := range []bool{false, true} {
			got, want := encode([]string{e}, []bool{text})
			if !bytes.Equal(got, want) {
				t.Errorf("field %q (text %v) = %q, want %q", e, text, got, want)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	atoms := append(edges, "x", "0", " ", "\t", "\r", "\n", `"`, ",", "=", "-", "\u00a0")
	for i := 0; i < 5000; i++ {
		n := 1 + rnd.IntN(6)
		fields, text := make([]string, n), make([]bool, n)
		for j := range fields {
			var b strings.Builder
			for k := rnd.IntN(4); k >= 0; k-- {
				b.WriteString(atoms[rnd.IntN(len(atoms))])
			}
			fields[j], text[j] = b.String(), rnd.IntN(2) == 0
		}
		if got, want := encode(fields, text); !bytes.Equal(got, want) {
			t.Fatalf("record %q (text %v) = %q, want %q", fields, text, got, want)
		}
	}
}

func TestDetailCSVPaths(t *testing.T) {
	for in, want := range map[string][2]string{
		"out/recon.xlsx": {"out/recon-payable.csv", "out/recon-receivable.csv"},
		"recon":          {"recon-payable.csv", "recon-receivable.csv"},
		"a.b/r.v2.xlsx":  {"a.b/r.v2-payable.csv", "a.b/r.v2-receivable.csv"},
	} {
		p, r := DetailCSVPaths(in)
		if p != want[0] || r != want[1] {
			t.Errorf("DetailCSVPaths(%q) = %q, %q; want %q", in, p, r, want)
		}
	}
}

func TestWriteWorkbookDetailCSVAtomic(t *testing.T) {
	ctx := context.Background()
	failures := map[string]func(d *wbDetail, opts *WorkbookOptions) context.Context{
		"payable read error": func(d *wbDetail, _ *WorkbookOptions) context.Context { d.failAt = 3; return ctx },
		"cancelled": func(*wbDetail, *WorkbookOptions) context.Context {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c
		},
		// The CSV files are complete; the workbook fails.
		"workbook error": func(_ *wbDetail, opts *WorkbookOptions) context.Context { opts.MaxRowsPerSheet = -1; return ctx },
		"tmp dir missing": func(_ *wbDetail, opts *WorkbookOptions) context.Context {
			opts.TmpDir = filepath.Join(os.TempDir(), "reconcile-no-such-dir-for-test")
			return ctx
		},
	}
	for name, setup := range failures {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			payPath, recPath := DetailCSVPaths(path)
			old := map[string][]byte{path: []byte("old workbook"), recPath: []byte("old receivable")}
			for p, b := range old {
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res, info, d := wbFixture(true)
			opts := WorkbookOptions{Detail: DetailCSV}
			c := setup(d, &opts)
			err := WriteWorkbook(c, path, res, wbAttrOf(res), info, d, opts)
			if err == nil {
				t.Fatal("WriteWorkbook succeeded")
			}
			if name == "payable read error" && !errors.Is(err, errDetail) {
				t.Errorf("err = %v, want it to wrap the detail error", err)
			}
			if got := wbDirEntries(t, dir); !slices.Equal(got, []string{"recon-receivable.csv", "recon.xlsx"}) {
				t.Errorf("dir holds %q after a failure, want only the old files", got)
			}
			for p, b := range old {
				if got := mustRead(t, p); !bytes.Equal(got, b) {
					t.Errorf("%s = %q, want it untouched", p, got)
				}
			}
			if _, err := os.Stat(payPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after a failure", payPath)
			}
		})
	}
}

func TestRenderWorkbookDetailCSV(t *testing.T) {
	res, info, _ := wbFixture(true)
	data := wbRender(t, res, info, nil, WorkbookOptions{Detail: DetailCSV})
	f := wbOpen(t, data)
	if got := f.GetSheetList(); len(got) != 6 || slices.Contains(got, SheetPayable) || slices.Contains(got, SheetReceivable) {
		t.Errorf("sheets = %q", got)
	}
	var out bytes.Buffer
	if err := RenderWorkbook(context.Background(), &out, res, wbAttrOf(res), info, nil, WorkbookOptions{Detail: "pdf", TmpDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("Detail pdf: err = %v", err)
	}
	// The xlsx default is unchanged by the option's existence.
	_, _, d := wbFixture(true)
	if a, b := wbRender(t, res, info, d, WorkbookOptions{}), wbRender(t, res, info, d, WorkbookOptions{Detail: DetailXLSX}); !bytes.Equal(a, b) {
		t.Error(`Detail "xlsx" differs from the default`)
	}
}

// errWriter fails every write after the first ok bytes.
type errWriter struct{ ok int }

func (w *errWriter) Write(p []byte) (int, error) {
	if w.ok < len(p) {
		return 0, errors.New("disk full")
	}
	w.ok -= len(p)
	return len(p), nil
}

// TestPayableCSVLarge writes more than the encoder's buffer: every line
// arrives whole and in order, and a writer's error stops the file.
func TestPayableCSVLarge(t *testing.T) {
	ctx := context.Background()
	res, _, _ := wbFixture(true)
	const n = 1_000 // ≈ 200 kB: full buffers and a rest
	var out bytes.Buffer
	if err := WritePayableCSV(ctx, &out, res, wbAttrOf(res), wbGenDetail{n}); err != nil {
		t.Fatal(err)
	}
	if out.Len() < 2*csvFlushAt {
		t.Fatalf("wrote %d bytes, want more than two buffers", out.Len())
	}
	recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d records, want %d", len(recs), n+1)
	}
	for i, r := range recs[1:] {
		if want := "charge-" + strconv.Itoa(i); r[6] != want {
			t.Fatalf("record %d: Charge ID %q, want %q", i+1, r[6], want)
		}
	}
	err = WritePayableCSV(ctx, &errWriter{ok: csvFlushAt + 1<<16}, res, wbAttrOf(res), wbGenDetail{n})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's", err)
	}
}
