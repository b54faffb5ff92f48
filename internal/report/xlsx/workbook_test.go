package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// ---------------------------------------------------------------------------
// Fixture: a hand-built Result and a fake Detail over slices.

func wbDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func wbND(s string) decimal.NullDecimal {
	if s == "" {
		return decimal.NullDecimal{}
	}
	return decimal.NewNullDecimal(wbDec(s))
}

func wbBool(b bool) *bool { return &b }

type wbRecv struct {
	customerID string
	c          billing.ReceivableCharge
}

// wbDetail is a Detail over slices. When failAt > 0, EachPayable returns
// errDetail instead of emitting payable line number failAt (1-based).
type wbDetail struct {
	payables    []billing.PayableCharge
	receivables []wbRecv
	failAt      int
}

var errDetail = errors.New("ledger read failed")

func (d *wbDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	for i := range d.payables {
		if d.failAt > 0 && i+1 == d.failAt {
			return errDetail
		}
		if err := fn(&d.payables[i]); err != nil {
			return err
		}
	}
	return nil
}

func (d *wbDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	for i := range d.receivables {
		if err := fn(d.receivables[i].customerID, &d.receivables[i].c); err != nil {
			return err
		}
	}
	return nil
}

// Tricky strings that must stay text.
const (
	wbFormulaName = "=1+1"
	wbPlusSKU     = "+SUM(A1)"
	wbMinusName   = "-2"
	wbAtTag       = "@x"
	wbLongID      = "0012345"
)

// wbAttributeFunc adapts a function to Attributor.
type wbAttributeFunc func(c *billing.PayableCharge) (string, string, string)

func (f wbAttributeFunc) Attribute(c *billing.PayableCharge) (string, string, string) { return f(c) }

// wbAttrs holds the attribution of each test Result (in production the
// engine's Attributor, handed over by the job).
var wbAttrs sync.Map // *report.Result → Attributor

// wbAttrOf returns the attribution registered for res, or nil.
func wbAttrOf(res *report.Result) Attributor {
	a, _ := wbAttrs.Load(res)
	attr, _ := a.(Attributor)
	return attr
}

// wbAttribute attributes by a CustomerId tag over a fixed customer list.
func wbAttribute(customers map[string]string) Attributor {
	return wbAttributeFunc(func(c *billing.PayableCharge) (string, string, string) {
		for _, t := range c.Tags {
			if strings.EqualFold(t.Name, "CustomerId") {
				if name, ok := customers[t.Value]; ok {
					return t.Value, name, ""
				}
				return "", "", report.ReasonUnknownCustomer
			}
		}
		return "", "", report.ReasonNoCustomerTag
	})
}

func wbPayable(cust, sku, product, qty, price, subTotal, cur string) billing.PayableCharge {
	c := billing.PayableCharge{
		ProductID: "prod-" + sku, ProductName: product, SKU: sku,
		ChargeID: "ch-" + cust + "-" + sku, ChargeName: product + " monthly", ChargeType: "Recurring",
		BillingCycleType: "Monthly", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31",
		Quantity: wbND(qty), ListPrice: wbND(price), NetPrice: wbND(price), NetPriceProrated: wbND(price),
		SubTotal: wbND(subTotal), Currency: cur, IsBilled: wbBool(true), IsProratable: wbBool(false),
	}
	if cust != "" {
		c.Tags = []billing.Tag{{Name: "CustomerId", Value: cust}}
	}
	return c
}

func wbReceivable(cust, sku, product, qty, price, cur string) wbRecv {
	return wbRecv{cust, billing.ReceivableCharge{
		ProductName: product, SKU: sku, ChargeID: "rc-" + cust + "-" + sku, ChargeName: product,
		ChargeType: "Recurring", BillingCycleType: "Monthly", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31",
		Quantity: wbND(qty), CostPrice: wbND(price), CostPriceProrated: wbND(price), Currency: cur,
		IsProratable: wbBool(true),
	}}
}

// wbFixture is a small reconciliation: customers 0012345 ("=1+1", USD),
// C2 ("Acme", USD, a negative margin), C3 ("Beta", CAD), C4 missing
// (fetch failed); one unattributed line. complete=false also sets the
// Result incomplete.
func wbFixture(complete bool) (*report.Result, RunInfo, *wbDetail) {
	customers := map[string]string{wbLongID: wbFormulaName, "C2": "Acme", "C3": "Beta", "C4": "Gamma"}
	res := &report.Result{
		RunID:    "run-1",
		Period:   billing.Period{From: "2026-10-01", To: "2026-10-31"},
		Complete: complete,
		Coverage: report.CoverageSummary{Customers: 4, Available: 3,
			Missing: []report.MissingCustomer{{CustomerID: "C4", Reason: billing.CoverageFetchFailed, Error: "HTTP 500 after 3 attempts"}}},
		Totals: []report.CurrencyTotal{
			{Currency: "CAD", Payable: wbDec("30.00"), Receivable: wbDec("45.0000"), Margin: wbDec("15.0000")},
			{Currency: "USD", Payable: wbDec("1234.50"), Receivable: wbDec("1500.125"), Margin: wbDec("265.625")},
		},
		Customers: []report.CustomerRow{
			{CustomerID: wbLongID, CustomerName: wbFormulaName, Currency: "USD", Payable: wbDec("1000.00"), Receivable: wbDec("1400.125"), Margin: wbDec("400.125"), Available: true},
			{CustomerID: "C2", CustomerName: "Acme", Currency: "USD", Payable: wbDec("200.00"), Receivable: wbDec("100.00"), Margin: wbDec("-100.00"), Available: true},
			{CustomerID: "C3", CustomerName: "Beta", Currency: "CAD", Payable: wbDec("30.00"), Receivable: wbDec("45.0000"), Margin: wbDec("15.0000"), Available: true},
			{CustomerID: "C4", CustomerName: "Gamma", Currency: "USD", Payable: wbDec("34.50"), Receivable: wbDec("0"), Margin: wbDec("-34.50"), Available: false},
		},
		Products: []report.ProductRow{
			{SKU: wbPlusSKU, Product: wbMinusName, Currency: "USD", PayableQty: wbDec("3"), ReceivableQty: wbDec("2.5"), Payable: wbDec("1000.00"), Receivable: wbDec("1400.125"), Margin: wbDec("400.125")},
			{SKU: "SKU-B", Product: "Backup", Currency: "CAD", PayableQty: wbDec("1"), ReceivableQty: wbDec("1"), Payable: wbDec("30.00"), Receivable: wbDec("45.0000"), Margin: wbDec("15.0000")},
			{SKU: "SKU-C", Product: "Cloud", Currency: "USD", PayableQty: wbDec("2"), ReceivableQty: wbDec("0"), Payable: wbDec("200.00"), Receivable: wbDec("0"), Margin: wbDec("-200.00")},
		},
		Mismatches: []report.Finding{
			{Kind: report.KindMissingReceivables, CustomerID: "C4", CustomerName: "Gamma", Currency: "USD", PayableQty: wbDec("0"), ReceivableQty: wbDec("0"), PayableAmount: wbDec("34.50"), ReceivableAmount: wbDec("0"), Reason: string(billing.CoverageFetchFailed)},
			{Kind: report.KindUnattributed, SKU: "SKU-U", Product: "Orphan", ChargeType: "Recurring", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31", Currency: "USD", PayableQty: wbDec("1"), ReceivableQty: wbDec("0"), PayableAmount: wbDec("12.00"), ReceivableAmount: wbDec("0"), Reason: report.ReasonNoCustomerTag,
				ChargeID: "ch--SKU-U", Invoice: "INV-1002", Tags: "Team=ops; Site=Lyon"},
			{Kind: report.KindUnbilled, CustomerID: "C2", CustomerName: "Acme", SKU: "SKU-C", Product: "Cloud", ChargeType: "Recurring", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31", Currency: "USD", PayableQty: wbDec("2"), ReceivableQty: wbDec("0"), PayableAmount: wbDec("200.00"), ReceivableAmount: wbDec("0")},
			{Kind: report.KindQuantityMismatch, CustomerID: wbLongID, CustomerName: wbFormulaName, SKU: wbPlusSKU, Product: wbMinusName, ChargeType: "Recurring", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31", Currency: "USD", PayableQty: wbDec("3"), ReceivableQty: wbDec("2.5"), PayableAmount: wbDec("1000.00"), ReceivableAmount: wbDec("1400.125")},
			{Kind: report.KindSubtotalIdentity, SKU: "SKU-B", Currency: "CAD", PayableQty: wbDec("1"), ReceivableQty: wbDec("0"), PayableAmount: wbDec("30.00"), ReceivableAmount: wbDec("0"), Reason: "subTotal 30.00 ≠ 1 × 29.50"},
		},
		Invoices: []report.InvoiceRow{
			{Number: "INV-2001", Date: "2026-11-03", Currency: "CAD", Lines: 1, Payable: wbDec("30.00")},
			{Number: "INV-1001", Date: "2026-11-01", Currency: "USD", Lines: 1, Payable: wbDec("1000.00")},
			{Number: "INV-1002", Date: "2026-11-01", Currency: "USD", Lines: 1, Payable: wbDec("12.00")},
			{Number: "", Currency: "USD", Lines: 2, Payable: wbDec("222.50")},
		},
		PayableLines:    5,
		ReceivableLines: 3,
		Tolerance:       wbDec("0.01"),
	}
	info := RunInfo{
		RunID: "run-1", ToolVersion: "v0.1.0-test", BaseURL: "https://api.sherweb.test", Status: "partial",
		StartedAt: "2026-11-02T08:00:00Z", FinishedAt: "2026-11-02T08:01:30Z", Calls: 6, Retries: 2,
		Settings: [][2]string{{"tolerance", "0.01"}, {"concurrency", "4"}, {"note", wbFormulaName}},
	}
	p1 := wbPayable(wbLongID, wbPlusSKU, wbMinusName, "3", "333.333333", "1000.00", "USD")
	p1.ChargeID = wbLongID
	p1.ChargeName = wbFormulaName
	p1.ListPrice = decimal.NullDecimal{} // absent: an empty cell, never 0
	p1.Deductions = []billing.Deduction{{Code: "PROMO", TotalValue: wbND("-1.69")}, {Name: "Loyalty", Value: wbND("-0.50")}}
	p1.Fees = []billing.Fee{{Name: "Setup", TotalValue: wbND("10.00")}}
	p1.Taxes = []billing.Tax{{Name: "GST", AppliedRate: wbND("5")}, {Name: "QST", AppliedRate: wbND("9.975")}}
	p1.Tags = append(p1.Tags, billing.Tag{Name: "Env", Value: wbAtTag})
	p1.Invoice = &billing.Invoice{Number: "INV-1001", Date: "2026-11-01"}
	p2 := wbPayable("C2", "SKU-C", "Cloud", "2", "100.00", "200.00", "USD")
	p2.IsBilled = nil
	p3 := wbPayable("C3", "SKU-B", "Backup", "1", "29.50", "30.00", "CAD")
	p4 := wbPayable("C4", "SKU-D", "Desk", "1", "34.50", "34.50", "USD")
	p5 := wbPayable("", "SKU-U", "Orphan", "1", "12.00", "12.00", "USD")
	p5.Tags = []billing.Tag{{Name: "Team", Value: "ops"}, {Name: "Site", Value: "Lyon"}}
	p5.Invoice = &billing.Invoice{Number: "INV-1002", Date: "2026-11-01"}
	detail := &wbDetail{
		payables: []billing.PayableCharge{p1, p2, p3, p4, p5},
		receivables: []wbRecv{
			wbReceivable(wbLongID, wbPlusSKU, wbMinusName, "2.5", "560.05", "USD"),
			wbReceivable("C2", "SKU-C", "Cloud", "1", "100.00", "USD"),
			wbReceivable("C3", "SKU-B", "Backup", "1", "45.0000", "CAD"),
		},
	}
	detail.receivables[0].c.CostPrice = decimal.NullDecimal{}
	wbAttrs.Store(res, wbAttribute(customers))
	return res, info, detail
}

// ---------------------------------------------------------------------------
// Helpers.

func wbRender(t testing.TB, res *report.Result, info RunInfo, d Detail, opts WorkbookOptions) []byte {
	t.Helper()
	if opts.TmpDir == "" {
		opts.TmpDir = t.TempDir()
	}
	var buf bytes.Buffer
	if err := RenderWorkbook(context.Background(), &buf, res, wbAttrOf(res), info, d, opts); err != nil {
		t.Fatalf("RenderWorkbook: %v", err)
	}
	return buf.Bytes()
}

func wbOpen(t testing.TB, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// wbIsNumber reports whether a cell is a number cell (t absent or "n").
func wbIsNumber(t testing.TB, f *excelize.File, sheet, cell string) bool {
	t.Helper()
	typ, err := f.GetCellType(sheet, cell)
	if err != nil {
		t.Fatalf("GetCellType(%s!%s): %v", sheet, cell, err)
	}
	v, _ := f.GetCellValue(sheet, cell)
	return (typ == excelize.CellTypeUnset || typ == excelize.CellTypeNumber) && v != ""
}

// wantNumber checks that sheet!cell is a number cell holding num(want).
func wantNumber(t testing.TB, f *excelize.File, sheet, cell string, want decimal.Decimal) {
	t.Helper()
	if !wbIsNumber(t, f, sheet, cell) {
		typ, _ := f.GetCellType(sheet, cell)
		v, _ := f.GetCellValue(sheet, cell)
		t.Errorf("%s!%s: type %v value %q, want a number", sheet, cell, typ, v)
		return
	}
	v, _ := f.GetCellValue(sheet, cell)
	got, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Errorf("%s!%s = %q: %v", sheet, cell, v, err)
		return
	}
	if got != num(want) {
		t.Errorf("%s!%s = %v, want %v (%s)", sheet, cell, got, num(want), billing.Text(want))
	}
}

// wantText checks that sheet!cell is a string cell (not a formula) holding want.
func wantText(t testing.TB, f *excelize.File, sheet, cell, want string) {
	t.Helper()
	typ, err := f.GetCellType(sheet, cell)
	if err != nil {
		t.Fatalf("GetCellType(%s!%s): %v", sheet, cell, err)
	}
	if typ != excelize.CellTypeInlineString && typ != excelize.CellTypeSharedString {
		t.Errorf("%s!%s: type %v, want a string cell", sheet, cell, typ)
	}
	if formula, _ := f.GetCellFormula(sheet, cell); formula != "" {
		t.Errorf("%s!%s: formula %q, want none", sheet, cell, formula)
	}
	if v, _ := f.GetCellValue(sheet, cell); v != want {
		t.Errorf("%s!%s = %q, want %q", sheet, cell, v, want)
	}
}

func wantEmpty(t testing.TB, f *excelize.File, sheet, cell string) {
	t.Helper()
	if v, _ := f.GetCellValue(sheet, cell); v != "" {
		t.Errorf("%s!%s = %q, want an empty cell", sheet, cell, v)
	}
}

// wbCol finds the column letter of header name on row 1 of sheet.
func wbCol(t testing.TB, f *excelize.File, sheet, name string) string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil || len(rows) == 0 {
		t.Fatalf("GetRows(%s): %v", sheet, err)
	}
	i := slices.Index(rows[0], name)
	if i < 0 {
		t.Fatalf("sheet %s has no column %q (header %q)", sheet, name, rows[0])
	}
	col, _ := excelize.ColumnNumberToName(i + 1)
	return col
}

// wbNumFmt is the custom number format of a cell's style ("" when none).
func wbNumFmt(t testing.TB, f *excelize.File, sheet, cell string) string {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatalf("GetCellStyle(%s!%s): %v", sheet, cell, err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatalf("GetStyle(%d): %v", id, err)
	}
	if st.CustomNumFmt == nil {
		return ""
	}
	return *st.CustomNumFmt
}

func wbFillColor(t testing.TB, f *excelize.File, sheet, cell string) string {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatalf("GetCellStyle(%s!%s): %v", sheet, cell, err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatalf("GetStyle(%d): %v", id, err)
	}
	if len(st.Fill.Color) == 0 {
		return ""
	}
	return strings.TrimPrefix(strings.ToUpper(st.Fill.Color[0]), "#")
}

// wbZipParts reads the parts of an xlsx.
func wbZipParts(t testing.TB, data []byte) (names []string, parts map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	parts = map[string]string{}
	for _, e := range zr.File {
		r, err := e.Open()
		if err != nil {
			t.Fatalf("zip %s: %v", e.Name, err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("zip %s: %v", e.Name, err)
		}
		names = append(names, e.Name)
		parts[e.Name] = string(b)
	}
	return names, parts
}

// wbSheetXML returns the worksheet XML of the sheet named name.
func wbSheetXML(t testing.TB, parts map[string]string, name string) string {
	t.Helper()
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := xml.Unmarshal([]byte(parts["xl/workbook.xml"]), &wb); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal([]byte(parts["xl/_rels/workbook.xml.rels"]), &rels); err != nil {
		t.Fatal(err)
	}
	for _, s := range wb.Sheets {
		if s.Name != name {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == s.RID {
				return parts["xl/"+strings.TrimPrefix(r.Target, "/xl/")]
			}
		}
	}
	t.Fatalf("no worksheet part for sheet %q", name)
	return ""
}

// ---------------------------------------------------------------------------
// Tests.

var wbHeaders = map[string][]string{
	SheetCustomers: {"Customer ID", "Customer", "Currency", "Payable", "Receivable", "Margin", "Margin %"},
	SheetProducts:  {"SKU", "Product", "Currency", "Payable Qty", "Receivable Qty", "Payable", "Receivable", "Margin", "Margin %"},
	SheetMismatches: {"Kind", "Label", "Customer ID", "Customer", "SKU", "Product", "Charge Type", "Period From", "Period To",
		"Currency", "Payable Qty", "Receivable Qty", "Payable Amount", "Receivable Amount", "Difference", "Reason",
		"Charge ID", "Invoice", "Tags", "Fingerprint", "Status", "Accepted Reason", "Accepted Amount"},
	SheetInvoices: {"Invoice", "Invoice Date", "Currency", "Lines", "Payable", "Note"},
	SheetPayable: {"Customer ID", "Customer", "Attribution", "Product ID", "Product", "SKU", "Charge ID", "Charge Name",
		"Charge Type", "Billing Cycle", "Period From", "Period To", "Quantity", "List Price", "Net Price",
		"Net Price Prorated", "Sub Total", "Currency", "Billed", "Proratable", "Invoice", "Deductions", "Fees", "Taxes", "Tags"},
	SheetReceivable: {"Customer ID", "Customer", "Product", "SKU", "Charge ID", "Charge Name", "Charge Type",
		"Billing Cycle", "Period From", "Period To", "Quantity", "Cost Price", "Cost Price Prorated", "Amount", "Currency", "Proratable"},
	SheetRun: {"Field", "Value"},
}

func TestWorkbookSheetsHeadersPanesFilters(t *testing.T) {
	res, info, d := wbFixture(true)
	data := wbRender(t, res, info, d, WorkbookOptions{})
	f := wbOpen(t, data)
	want := []string{SheetSummary, SheetCustomers, SheetProducts, SheetMismatches, SheetInvoices, SheetPayable, SheetReceivable, SheetRun}
	if got := f.GetSheetList(); !slices.Equal(got, want) {
		t.Fatalf("sheets = %q, want %q", got, want)
	}
	_, parts := wbZipParts(t, data)
	for _, sheet := range want[1:] { // every table sheet; Summary is a page
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatalf("GetRows(%s): %v", sheet, err)
		}
		if !slices.Equal(rows[0], wbHeaders[sheet]) {
			t.Errorf("%s header = %q, want %q", sheet, rows[0], wbHeaders[sheet])
		}
		for i := range rows[0] {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			if got := wbFillColor(t, f, sheet, cell); got != colorHeaderFill {
				t.Errorf("%s!%s header fill = %q, want %q", sheet, cell, got, colorHeaderFill)
			}
		}
		panes, err := f.GetPanes(sheet)
		if err != nil {
			t.Fatalf("GetPanes(%s): %v", sheet, err)
		}
		if !panes.Freeze || panes.YSplit != 1 || panes.XSplit != 0 || panes.TopLeftCell != "A2" {
			t.Errorf("%s panes = %+v, want row 1 frozen", sheet, panes)
		}
		// The auto-filter must be in the worksheet itself, not only in the
		// workbook's defined names.
		lastCol, _ := excelize.ColumnNumberToName(len(wbHeaders[sheet]))
		lastRow := len(rows)
		ref := fmt.Sprintf(`<autoFilter ref="$A$1:$%s$%d">`, lastCol, lastRow)
		if x := wbSheetXML(t, parts, sheet); !strings.Contains(x, ref) {
			t.Errorf("%s: no %s in worksheet XML", sheet, ref)
		}
	}
}

func TestWorkbookCustomersProductsCells(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))

	for i, r := range res.Customers {
		row := strconv.Itoa(i + 2)
		wantText(t, f, SheetCustomers, "A"+row, r.CustomerID)
		wantText(t, f, SheetCustomers, "B"+row, r.CustomerName)
		wantText(t, f, SheetCustomers, "C"+row, r.Currency)
		wantNumber(t, f, SheetCustomers, "D"+row, r.Payable)
		wantNumber(t, f, SheetCustomers, "E"+row, r.Receivable)
		wantNumber(t, f, SheetCustomers, "F"+row, r.Margin)
		if pct, ok := report.MarginPercent(r.Margin, r.Receivable); ok {
			wantNumber(t, f, SheetCustomers, "G"+row, pct.Shift(-2))
			if got := wbNumFmt(t, f, SheetCustomers, "G"+row); !strings.HasPrefix(got, "0.00%") {
				t.Errorf("Customers!G%s format = %q, want 0.00%%", row, got)
			}
		} else {
			wantEmpty(t, f, SheetCustomers, "G"+row)
		}
		wantFmt := moneyFormat(r.Currency, false)
		for _, col := range []string{"D", "E", "F"} {
			if got := wbNumFmt(t, f, SheetCustomers, col+row); got != wantFmt {
				t.Errorf("Customers!%s%s format = %q, want %q", col, row, got, wantFmt)
			}
		}
		fill := wbFillColor(t, f, SheetCustomers, "F"+row)
		if neg := r.Margin.Sign() < 0; neg != (fill == colorBadFill) {
			t.Errorf("Customers!F%s margin %s: fill %q, want highlighted=%v", row, billing.Text(r.Margin), fill, neg)
		}
	}
	// Spot values: 400.125 / 1400.125 = 28.58 %; C4 has no receivable.
	wantNumber(t, f, SheetCustomers, "G2", wbDec("0.2858"))
	wantEmpty(t, f, SheetCustomers, "G5")
	if got, want := moneyFormat("USD", false), `#,##0.00 "USD";[Red]-#,##0.00 "USD"`; got != want {
		t.Errorf("moneyFormat(USD) = %q, want %q", got, want)
	}

	for i, r := range res.Products {
		row := strconv.Itoa(i + 2)
		wantText(t, f, SheetProducts, "A"+row, r.SKU)
		wantText(t, f, SheetProducts, "B"+row, r.Product)
		wantText(t, f, SheetProducts, "C"+row, r.Currency)
		wantNumber(t, f, SheetProducts, "D"+row, r.PayableQty)
		wantNumber(t, f, SheetProducts, "E"+row, r.ReceivableQty)
		wantNumber(t, f, SheetProducts, "F"+row, r.Payable)
		wantNumber(t, f, SheetProducts, "G"+row, r.Receivable)
		wantNumber(t, f, SheetProducts, "H"+row, r.Margin)
		if pct, ok := report.MarginPercent(r.Margin, r.Receivable); ok {
			wantNumber(t, f, SheetProducts, "I"+row, pct.Shift(-2))
		} else {
			wantEmpty(t, f, SheetProducts, "I"+row)
		}
	}
}

func TestWorkbookMismatchesCells(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))
	rows, _ := f.GetRows(SheetMismatches)
	if len(rows)-1 != len(res.Mismatches) {
		t.Fatalf("Mismatches has %d data rows, want %d", len(rows)-1, len(res.Mismatches))
	}
	for i, m := range res.Mismatches {
		row := strconv.Itoa(i + 2)
		texts := []struct{ col, v string }{
			{"A", m.Kind}, {"B", report.KindLabel(m.Kind)}, {"C", m.CustomerID}, {"D", m.CustomerName}, {"E", m.SKU}, {"F", m.Product},
			{"G", m.ChargeType}, {"H", string(m.PeriodFrom)}, {"I", string(m.PeriodTo)}, {"J", m.Currency}, {"P", m.Reason},
			{"Q", m.ChargeID}, {"R", m.Invoice}, {"S", m.Tags}, {"T", report.Fingerprint(&m)},
		}
		for _, x := range texts {
			if x.v == "" {
				wantEmpty(t, f, SheetMismatches, x.col+row)
			} else {
				wantText(t, f, SheetMismatches, x.col+row, x.v)
			}
		}
		wantNumber(t, f, SheetMismatches, "K"+row, m.PayableQty)
		wantNumber(t, f, SheetMismatches, "L"+row, m.ReceivableQty)
		wantNumber(t, f, SheetMismatches, "M"+row, m.PayableAmount)
		wantNumber(t, f, SheetMismatches, "N"+row, m.ReceivableAmount)
		wantNumber(t, f, SheetMismatches, "O"+row, m.Difference())
	}
}

func TestWorkbookDetailCells(t *testing.T) {
	res, info, d := wbFixture(true)
	f := wbOpen(t, wbRender(t, res, info, d, WorkbookOptions{}))

	col := func(sheet, name string) string { return wbCol(t, f, sheet, name) }
	p := SheetPayable
	// Line 1: tricky strings everywhere.
	wantText(t, f, p, col(p, "Customer ID")+"2", wbLongID)
	wantText(t, f, p, col(p, "Customer")+"2", wbFormulaName)
	wantText(t, f, p, col(p, "Attribution")+"2", attributionAttributed)
	wantText(t, f, p, col(p, "SKU")+"2", wbPlusSKU)
	wantText(t, f, p, col(p, "Product")+"2", wbMinusName)
	wantText(t, f, p, col(p, "Charge ID")+"2", wbLongID)
	wantText(t, f, p, col(p, "Charge Name")+"2", wbFormulaName)
	wantText(t, f, p, col(p, "Period From")+"2", "2026-10-01")
	wantText(t, f, p, col(p, "Billed")+"2", "yes")
	wantText(t, f, p, col(p, "Proratable")+"2", "no")
	wantText(t, f, p, col(p, "Invoice")+"2", "INV-1001 2026-11-01")
	wantText(t, f, p, col(p, "Deductions")+"2", "PROMO:-1.69; Loyalty:-0.50")
	wantText(t, f, p, col(p, "Fees")+"2", "Setup:10.00")
	wantText(t, f, p, col(p, "Taxes")+"2", "GST:5; QST:9.975")
	wantText(t, f, p, col(p, "Tags")+"2", "CustomerId="+wbLongID+"; Env="+wbAtTag)
	wantNumber(t, f, p, col(p, "Quantity")+"2", wbDec("3"))
	wantEmpty(t, f, p, col(p, "List Price")+"2") // null stays empty
	wantNumber(t, f, p, col(p, "Net Price")+"2", wbDec("333.333333"))
	wantNumber(t, f, p, col(p, "Sub Total")+"2", wbDec("1000.00"))
	if got, want := wbNumFmt(t, f, p, col(p, "Net Price")+"2"), moneyFormat("USD", true); got != want {
		t.Errorf("Net Price format = %q, want %q", got, want)
	}
	if got, want := wbNumFmt(t, f, p, col(p, "Sub Total")+"4"), moneyFormat("CAD", false); got != want {
		t.Errorf("CAD Sub Total format = %q, want %q", got, want)
	}
	wantEmpty(t, f, p, col(p, "Billed")+"3") // isBilled null
	// Line 5: unattributed.
	wantEmpty(t, f, p, col(p, "Customer ID")+"6")
	wantText(t, f, p, col(p, "Attribution")+"6", report.ReasonNoCustomerTag)

	r := SheetReceivable
	wantText(t, f, r, "A2", wbLongID)
	wantText(t, f, r, "B2", wbFormulaName)
	wantText(t, f, r, "C2", wbMinusName)
	wantText(t, f, r, "D2", wbPlusSKU)
	wantNumber(t, f, r, col(r, "Quantity")+"2", wbDec("2.5"))
	wantEmpty(t, f, r, col(r, "Cost Price")+"2")
	wantNumber(t, f, r, col(r, "Cost Price Prorated")+"2", wbDec("560.05"))
	wantNumber(t, f, r, col(r, "Amount")+"2", wbDec("1400.125"))
	wantText(t, f, r, "B4", "Beta")
	wantNumber(t, f, r, col(r, "Amount")+"4", wbDec("45.0000"))

	wantText(t, f, SheetRun, "A2", "Run ID")
	wantText(t, f, SheetRun, "B2", "run-1")
	rows, _ := f.GetRows(SheetRun)
	var calls int
	for i, row := range rows {
		if row[0] == "Calls" {
			calls = i + 1
		}
	}
	if calls == 0 {
		t.Fatal("Run sheet has no Calls row")
	}
	wantNumber(t, f, SheetRun, "B"+strconv.Itoa(calls), wbDec("6"))
	last := strconv.Itoa(len(rows))
	wantText(t, f, SheetRun, "A"+last, "note")
	wantText(t, f, SheetRun, "B"+last, wbFormulaName)
}

func TestWorkbookContinuationSheets(t *testing.T) {
	res, info, d := wbFixture(true)
	// 7 payable and 4 receivable lines with 3 rows per sheet.
	for i := 0; i < 2; i++ {
		p := d.payables[i]
		p.ChargeID = fmt.Sprintf("extra-%d", i)
		d.payables = append(d.payables, p)
	}
	d.receivables = append(d.receivables, wbReceivable("C2", "SKU-E", "Extra", "1", "1.00", "USD"))
	data := wbRender(t, res, info, d, WorkbookOptions{MaxRowsPerSheet: 3})
	f := wbOpen(t, data)
	want := []string{
		SheetSummary, SheetCustomers, "Customers (2)", SheetProducts, SheetMismatches, "Mismatches (2)", SheetInvoices, "Invoices (2)",
		SheetPayable, "Payable (2)", "Payable (3)", SheetReceivable, "Receivable (2)", SheetRun, "Run (2)", "Run (3)", "Run (4)", "Run (5)",
	}
	if got := f.GetSheetList(); !slices.Equal(got, want) {
		t.Fatalf("sheets = %q,\nwant %q", got, want)
	}
	var chargeIDs []string
	for _, sheet := range []string{SheetPayable, "Payable (2)", "Payable (3)"} {
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], wbHeaders[SheetPayable]) {
			t.Errorf("%s header = %q", sheet, rows[0])
		}
		if len(rows) > 4 {
			t.Errorf("%s has %d data rows, max 3", sheet, len(rows)-1)
		}
		panes, _ := f.GetPanes(sheet)
		if !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: row 1 not frozen", sheet)
		}
		c := slices.Index(rows[0], "Charge ID")
		for _, r := range rows[1:] {
			chargeIDs = append(chargeIDs, r[c])
		}
	}
	var wantIDs []string
	for _, p := range d.payables {
		wantIDs = append(wantIDs, p.ChargeID)
	}
	if !slices.Equal(chargeIDs, wantIDs) {
		t.Errorf("payable charge ids across sheets = %q, want %q", chargeIDs, wantIDs)
	}
	rows, _ := f.GetRows("Receivable (2)")
	if len(rows) != 2 || rows[1][3] != "SKU-E" {
		t.Errorf("Receivable (2) rows = %q", rows)
	}
}

func TestWorkbookDeterministic(t *testing.T) {
	res, info, d := wbFixture(false)
	opts := WorkbookOptions{MaxRowsPerSheet: 2} // many streamed sheets
	first := wbRender(t, res, info, d, opts)
	for i := 0; i < 4; i++ {
		if again := wbRender(t, res, info, d, opts); !bytes.Equal(first, again) {
			t.Fatalf("render %d differs from the first (%d vs %d bytes)", i+2, len(again), len(first))
		}
	}
	names, parts := wbZipParts(t, first)
	if !slices.IsSorted(names) {
		t.Errorf("zip parts not sorted: %q", names)
	}
	core := parts["docProps/core.xml"]
	if !strings.Contains(core, "2006-09-16T00:00:00Z") {
		t.Errorf("docProps/core.xml has no fixed timestamp: %s", core)
	}
}

func TestWorkbookEmptyResult(t *testing.T) {
	res := &report.Result{Period: billing.Period{From: "2026-10-01", To: "2026-10-31"}, Complete: true}
	f := wbOpen(t, wbRender(t, res, RunInfo{}, &wbDetail{}, WorkbookOptions{}))
	for _, sheet := range []string{SheetCustomers, SheetPayable, SheetReceivable} {
		rows, err := f.GetRows(sheet)
		if err != nil || len(rows) != 1 {
			t.Errorf("%s rows = %q, %v; want the header only", sheet, rows, err)
		}
	}
}

func TestRenderWorkbookUnusableTmpDir(t *testing.T) {
	res, info, d := wbFixture(true)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "missing"),
		"file":    file,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := RenderWorkbook(context.Background(), &buf, res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: dir})
			if err == nil || !strings.Contains(err.Error(), "scratch directory") {
				t.Fatalf("RenderWorkbook with TmpDir %s: err = %v, want a scratch directory error", dir, err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes", buf.Len())
			}
		})
	}
}

func TestRenderWorkbookRejectsBadOptions(t *testing.T) {
	res, info, d := wbFixture(true)
	for _, n := range []int{-1, DefaultMaxRowsPerSheet + 1} {
		err := RenderWorkbook(context.Background(), io.Discard, res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: t.TempDir(), MaxRowsPerSheet: n})
		if err == nil {
			t.Errorf("MaxRowsPerSheet %d: no error", n)
		}
	}
}

// wbDirEntries lists dir (names only).
func wbDirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteWorkbookAtomic(t *testing.T) {
	ctx := context.Background()
	t.Run("success", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "recon-2026-10.xlsx")
		res, info, d := wbFixture(true)
		if err := WriteWorkbook(ctx, path, res, wbAttrOf(res), info, d, WorkbookOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := wbDirEntries(t, dir); !slices.Equal(got, []string{"recon-2026-10.xlsx"}) {
			t.Errorf("dir holds %q, want only the workbook", got)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := testkit.NewFilePerm(t, dir); fi.Mode().Perm() != want {
			t.Errorf("mode = %v, want %v (0666 filtered by the umask)", fi.Mode().Perm(), want)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := wbRender(t, res, info, d, WorkbookOptions{}); !bytes.Equal(data, want) {
			t.Error("WriteWorkbook bytes differ from RenderWorkbook bytes")
		}
		f := wbOpen(t, data)
		wantText(t, f, SheetCustomers, "A2", wbLongID)
	})

	failures := map[string]func(d *wbDetail) context.Context{
		"detail error mid-way": func(d *wbDetail) context.Context { d.failAt = 3; return ctx },
		"cancelled": func(d *wbDetail) context.Context {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c
		},
	}
	for name, setup := range failures {
		t.Run(name+"/no file", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			res, info, d := wbFixture(true)
			c := setup(d)
			err := WriteWorkbook(c, path, res, wbAttrOf(res), info, d, WorkbookOptions{})
			if err == nil {
				t.Fatal("WriteWorkbook succeeded")
			}
			if name == "detail error mid-way" && !errors.Is(err, errDetail) {
				t.Errorf("err = %v, want it to wrap the detail error", err)
			}
			if got := wbDirEntries(t, dir); len(got) != 0 {
				t.Errorf("dir holds %q after a failure, want nothing", got)
			}
		})
		t.Run(name+"/existing file untouched", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "recon.xlsx")
			old := []byte("previous workbook")
			if err := os.WriteFile(path, old, 0o600); err != nil {
				t.Fatal(err)
			}
			res, info, d := wbFixture(true)
			if err := WriteWorkbook(setup(d), path, res, wbAttrOf(res), info, d, WorkbookOptions{}); err == nil {
				t.Fatal("WriteWorkbook succeeded")
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, old) {
				t.Errorf("existing file = %q, %v; want it untouched", got, err)
			}
			if got := wbDirEntries(t, dir); !slices.Equal(got, []string{"recon.xlsx"}) {
				t.Errorf("dir holds %q, want only the old workbook", got)
			}
		})
	}

	t.Run("replace keeps mode", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "recon.xlsx")
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		res, info, d := wbFixture(true)
		if err := WriteWorkbook(ctx, path, res, wbAttrOf(res), info, d, WorkbookOptions{}); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600 kept", fi.Mode().Perm())
		}
		wbOpen(t, mustRead(t, path))
	})

	t.Run("separate tmp dir is left clean", func(t *testing.T) {
		dir, tmp := t.TempDir(), t.TempDir()
		res, info, d := wbFixture(true)
		d.failAt = 2
		if err := WriteWorkbook(ctx, filepath.Join(dir, "r.xlsx"), res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: tmp}); err == nil {
			t.Fatal("WriteWorkbook succeeded")
		}
		if got := wbDirEntries(t, tmp); len(got) != 0 {
			t.Errorf("tmp dir holds %q", got)
		}
	})
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScratchDirIsCleaned: what a real failed run could leave behind (the
// workbook's temp file and scratch directory) is recognised by
// atomicfile.CleanStale.
func TestScratchDirIsCleaned(t *testing.T) {
	d2 := t.TempDir()
	if _, err := makeScratchDir(d2, "r.xlsx"); err != nil {
		t.Fatal(err)
	}
	a, err := atomicfile.Create(filepath.Join(d2, "r.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := wbDirEntries(t, d2); len(got) != 2 {
		t.Fatalf("dir holds %q, want a temp file and a scratch directory", got)
	}
	if err := atomicfile.CleanStale(d2); err != nil {
		t.Fatal(err)
	}
	if got := wbDirEntries(t, d2); len(got) != 0 {
		t.Errorf("left %q", got)
	}
}

func TestNumIsExactNearestFloat(t *testing.T) {
	for _, s := range []string{"0.1", "1500.125", "-34.50", "333.333333", "0.000001", "123456789.123456789"} {
		d := wbDec(s)
		want, _ := strconv.ParseFloat(s, 64)
		if got := num(d); got != want {
			t.Errorf("num(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestCompactTexts(t *testing.T) {
	if got := deductionsText([]billing.Deduction{{DeductionType: "Promo"}}); got != "Promo:null" {
		t.Errorf("deductionsText = %q", got)
	}
	if got := feesText([]billing.Fee{{Name: "F", UnitValue: wbND("1.50")}}); got != "F:1.50" {
		t.Errorf("feesText = %q", got)
	}
	if got := invoiceText(&billing.Invoice{Number: "N"}); got != "N" {
		t.Errorf("invoiceText = %q", got)
	}
	if got := moneyFormat(`U"S`, false); got != "#,##0.00;[Red]-#,##0.00" {
		t.Errorf("moneyFormat with odd code = %q", got)
	}
}

// wbFailWriter fails once more than limit bytes were written.
type wbFailWriter struct{ n, limit int }

var errDiskFull = errors.New("no space left on device")

func (w *wbFailWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

func TestRenderWorkbookOutputErrorAndCleanup(t *testing.T) {
	res, info, d := wbFixture(true)
	tmp := t.TempDir()
	err := RenderWorkbook(context.Background(), &wbFailWriter{limit: 1000}, res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: tmp})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("err = %v, want the writer's error", err)
	}
	if got := wbDirEntries(t, tmp); len(got) != 0 {
		t.Errorf("tmp dir holds %q after a failed render", got)
	}
	if err := RenderWorkbook(context.Background(), io.Discard, res, wbAttrOf(res), info, d, WorkbookOptions{TmpDir: tmp}); err != nil {
		t.Fatal(err)
	}
	if got := wbDirEntries(t, tmp); len(got) != 0 {
		t.Errorf("tmp dir holds %q after a render", got)
	}
}
