package xlsx

// The Excel workbook of one reconciliation run.
//
// Layout (reconciliation rules, "Workbook layout"): sheets Summary, Customers,
// Products, Mismatches, Invoices, Payable, Receivable and Run, in this order.
// Summary is a designed page (workbook_summary.go); every other sheet is a
// table with a bold header in row 1, row 1 frozen, an auto-filter over the
// data, and a print set-up (landscape, one page wide, row 1 repeated on every
// page, period and run id in the page header). The small tables (Customers,
// Products, Mismatches, Invoices, Run) are measured first so that their
// column widths fit the content; the detail sheets keep fixed widths. A
// table sheet that would exceed WorkbookOptions.MaxRowsPerSheet data rows
// continues on "<name> (2)", "<name> (3)", … right after it, each with the
// header again; nothing is ever truncated.
// With WorkbookOptions.Detail = DetailCSV the Payable and Receivable
// sheets are left out and WriteWorkbook writes the lines as CSV files
// beside the workbook instead (detailcsv.go); the Summary sheet names them.
//
// Cell rules:
//   - num is the only place a decimal becomes a float64: the nearest float of
//     the exact value (Excel keeps 15 significant digits), never a pre-rounded
//     one. The number format does the display rounding.
//   - Money is numeric with one custom number format per currency
//     (`#,##0.00 "USD";[Red]-#,##0.00 "USD"`); unit prices show 2 to 6
//     decimals. A negative Margin cell also gets a light red fill.
//   - Margin % is numeric (pct ÷ 100, format 0.00%), from MarginPercent, and
//     empty when the receivable is zero.
//   - Quantities are numeric with thousands separators: "#,##0" when whole,
//     "#,##0.0#########" when they have a fraction (one format for both would
//     show whole numbers as "3.").
//   - Identifiers, SKUs, names, dates, periods and enums are always string
//     cells (inline strings on streamed sheets, shared strings on Summary),
//     never formulas, so "=1+1", "-2" or "0012345" stay exactly as sent.
//   - A null (absent) amount is an empty cell, never 0.
//
// Output is deterministic: the same inputs give byte-identical files. excelize
// writes fixed docProps timestamps, but it walks its streamed sheets in Go map
// order when zipping, so the workbook is zipped through sortedZip, which
// spools the compressed parts to scratch files and writes them sorted by
// name; that also keeps the finished zip out of memory (excelize would
// otherwise build it in a bytes.Buffer before writing a byte). The table
// sheets' parts are compressed while their rows are read, each on its own
// goroutine (workbook_parts.go), into the same bytes as one compressor over
// the whole part. The Payable and Receivable sheets are read and encoded at
// the same time, on two goroutines (workbook_detail.go), into the same bytes
// as one after the other.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// Sheet names of the workbook.
const (
	SheetSummary    = "Summary"
	SheetCustomers  = "Customers"
	SheetProducts   = "Products"
	SheetMismatches = "Mismatches"
	SheetInvoices   = "Invoices"
	SheetExceptions = "Exceptions"
	SheetPayable    = "Payable"
	SheetReceivable = "Receivable"
	SheetRun        = "Run"
)

// DefaultMaxRowsPerSheet is Excel's row limit minus the header row.
const DefaultMaxRowsPerSheet = excelize.TotalRows - 1

// ctxCheckEvery is how many rows pass between context checks.
const ctxCheckEvery = 1024

// WorkbookOptions tune the workbook writer.
type WorkbookOptions struct {
	// TmpDir is where excelize and the zip spool put their temporary files
	// (in a private scratch directory). Default: the output file's directory
	// for WriteWorkbook, os.TempDir() for RenderWorkbook. It is checked to be
	// writable before anything is rendered: an unwritable TmpDir is an error,
	// never a silent fallback to memory.
	TmpDir string
	// MaxRowsPerSheet is the number of data rows per sheet before a table
	// continues on the next sheet. Default DefaultMaxRowsPerSheet.
	MaxRowsPerSheet int
	// Detail is where the payable and receivable lines go: DetailXLSX ("",
	// the default) puts them on the Payable and Receivable sheets;
	// DetailCSV leaves those sheets out (the workbook has Summary,
	// Customers, Products, Mismatches and Run), and WriteWorkbook writes
	// them as CSV files beside the workbook (DetailCSVPaths). The Summary
	// sheet says where the detail went.
	Detail string
	// EarlyPayable, with DetailCSV, is the payable CSV file written ahead
	// of the workbook (StartPayableCSV): WriteWorkbook takes it instead of
	// writing the file when it is this workbook's (early.go). It stays the
	// caller's to Close.
	EarlyPayable *EarlyPayable
	// EarlyReceivable, with DetailCSV, is the receivable CSV file written
	// while the customers were fetched (StartReceivableCSV), taken as
	// EarlyPayable is (earlyreceivable.go).
	EarlyReceivable *EarlyReceivable
	// BeforeCommit, when set, is called by WriteWorkbook once the workbook
	// (and its CSV files) are complete, before any of them is renamed into
	// place: an error from it aborts them all, and WriteWorkbook returns it
	// as it is. (WriteOutputs waits there for the JSON summary it writes
	// meanwhile.)
	BeforeCommit func() error

	// excelizeRows renders the data rows through excelize's SetRow instead
	// of the row encoder and the compressed parts: the reference output of
	// the tests.
	excelizeRows bool
	// csvNames are the CSV files' names for the Summary sheet (set by
	// WriteWorkbook).
	csvPayable, csvReceivable string
}

// Values of WorkbookOptions.Detail.
const (
	DetailXLSX = "xlsx"
	DetailCSV  = "csv"
)

// RenderWorkbook renders the reconciliation workbook to w.
func RenderWorkbook(ctx context.Context, w io.Writer, res *report.Result, attr Attributor, info RunInfo, detail Detail, opts WorkbookOptions) error {
	if opts.TmpDir == "" {
		opts.TmpDir = os.TempDir()
	}
	return render(ctx, w, res, attr, info, detail, opts, "reconcile-xlsx")
}

// render does the work of RenderWorkbook; label names the scratch directory
// (".<label>-scratch-*.tmp", which atomicfile.CleanStale recognises).
func render(ctx context.Context, w io.Writer, res *report.Result, attr Attributor, info RunInfo, detail Detail, opts WorkbookOptions, label string) error {
	if res == nil {
		return errors.New("render workbook: no result")
	}
	if err := checkDetail(opts.Detail); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	if detail == nil && opts.Detail != DetailCSV {
		return errors.New("render workbook: no detail")
	}
	b := &builder{res: res, attr: attr, info: info, detail: detail, names: customerNames(res)}
	return renderBuilder(ctx, w, opts, label, b, (*builder).build)
}

// renderBuilder is the one rendering engine of every workbook (close,
// comparison, trend): it completes b (excelize file in a probed scratch
// directory, styles, compressed table parts), runs build, and writes the parts to w
// through the sorted zip, so that the same inputs give the same bytes.
func renderBuilder(ctx context.Context, w io.Writer, opts WorkbookOptions, label string, b *builder, build func(*builder) error) (err error) {
	if opts.MaxRowsPerSheet == 0 {
		opts.MaxRowsPerSheet = DefaultMaxRowsPerSheet
	}
	if opts.MaxRowsPerSheet < 1 || opts.MaxRowsPerSheet > DefaultMaxRowsPerSheet {
		return fmt.Errorf("render workbook: max rows per sheet %d out of range 1..%d", opts.MaxRowsPerSheet, DefaultMaxRowsPerSheet)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	scratch, err := makeScratchDir(opts.TmpDir, label)
	if err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(scratch); rerr != nil && err == nil {
			err = fmt.Errorf("render workbook: remove scratch directory: %w", rerr)
		}
	}()

	f := excelize.NewFile(excelize.Options{TmpDir: scratch})
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("render workbook: close excelize file: %w", cerr)
		}
	}()
	b.ctx, b.f, b.maxRows, b.opts = ctx, f, opts.MaxRowsPerSheet, opts
	if !opts.excelizeRows {
		if b.parts, err = newPartSet(scratch); err != nil {
			return fmt.Errorf("render workbook: %w", err)
		}
		defer b.parts.cleanup()
	}
	b.st, err = newStyles(f)
	if err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	if err := build(b); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}

	sortContentTypeDefaults(f)
	z := newSortedZip(w, scratch)
	defer z.cleanup()
	if b.parts != nil {
		z.splice(b.parts)
	}
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return z })
	var outside countingWriter
	if _, err := f.WriteTo(&outside); err != nil {
		return fmt.Errorf("render workbook: write: %w", err)
	}
	if outside.n != 0 {
		// excelize is expected to write everything through the zip writer;
		// a version that does not would produce a corrupt file.
		return fmt.Errorf("render workbook: excelize wrote %d bytes outside the zip writer", outside.n)
	}
	if !z.closed {
		return errors.New("render workbook: excelize did not close the zip writer")
	}
	return nil
}

// builder renders one workbook.
type builder struct {
	ctx     context.Context
	f       *excelize.File
	st      *styles
	res     *report.Result
	attr    Attributor
	info    RunInfo
	detail  Detail
	maxRows int
	names   map[string]string // customer id → name
	opts    WorkbookOptions
	parts   *partSet // nil: rows through excelize (reference output)
	// measure, when set, makes tables measure their rows instead of writing
	// them; widths, when set, are the column widths the next table uses.
	measure *widthMeasure
	widths  []float64
}

// fitted renders a small table sheet twice: once measuring its cells, then
// for real with column widths that fit the content.
func (b *builder) fitted(sheet func() error) error {
	b.measure = &widthMeasure{}
	err := sheet()
	w := b.measure.widths
	b.measure = nil
	if err != nil {
		return err
	}
	b.widths = w
	defer func() { b.widths = nil }()
	return sheet()
}

func (b *builder) build() error {
	if err := b.summary(); err != nil {
		return fmt.Errorf("summary sheet: %w", err)
	}
	if err := b.fitted(b.customers); err != nil {
		return fmt.Errorf("customers sheet: %w", err)
	}
	if err := b.fitted(b.products); err != nil {
		return fmt.Errorf("products sheet: %w", err)
	}
	if err := b.fitted(b.mismatches); err != nil {
		return fmt.Errorf("mismatches sheet: %w", err)
	}
	if err := b.fitted(b.invoices); err != nil {
		return fmt.Errorf("invoices sheet: %w", err)
	}
	if b.res.Exceptions != nil {
		if err := b.fitted(b.exceptions); err != nil {
			return fmt.Errorf("exceptions sheet: %w", err)
		}
	}
	subscriptions := func() error {
		if err := b.subscriptionSheets(); err != nil { // workbook_subscriptions.go
			return fmt.Errorf("commitments and amendments sheets: %w", err)
		}
		return nil
	}
	if b.opts.Detail == DetailCSV {
		if err := subscriptions(); err != nil {
			return err
		}
	} else if err := b.detailSheets(subscriptions); err != nil { // workbook_detail.go
		return err
	}
	if err := b.fitted(b.run); err != nil {
		return fmt.Errorf("run sheet: %w", err)
	}
	return nil
}

// customerNames maps customer ids to names from everything the Result knows.
func customerNames(res *report.Result) map[string]string {
	m := make(map[string]string)
	for _, r := range res.Customers {
		if r.CustomerName != "" {
			m[r.CustomerID] = r.CustomerName
		}
	}
	for _, f := range res.Mismatches {
		if f.CustomerID != "" && f.CustomerName != "" {
			if _, ok := m[f.CustomerID]; !ok {
				m[f.CustomerID] = f.CustomerName
			}
		}
	}
	return m
}

// num is the only place a decimal becomes a float64: the float nearest to
// the exact value. Excel stores doubles; the exact value stays in the ledger
// and the JSON summary.
func num(d decimal.Decimal) float64 { return d.InexactFloat64() }

// money is a money cell in cur's number format.
func (b *builder) money(d decimal.Decimal, cur string) (excelize.Cell, error) {
	s, err := b.st.money(cur, moneyPlain)
	return excelize.Cell{StyleID: s, Value: num(d)}, err
}

// margin is a money cell that is highlighted when negative.
func (b *builder) margin(d decimal.Decimal, cur string) (excelize.Cell, error) {
	v := moneyPlain
	if d.Sign() < 0 {
		v = moneyNegative
	}
	s, err := b.st.money(cur, v)
	return excelize.Cell{StyleID: s, Value: num(d)}, err
}

// percent is the Margin % cell of margin over receivable, or no cell when
// the receivable is zero.
func (b *builder) percent(margin, receivable decimal.Decimal) any {
	if c := b.percentCell(margin, receivable); c.kind != cellNone {
		return c.value()
	}
	return nil
}

// qty is a quantity cell.
func (b *builder) qty(d decimal.Decimal) excelize.Cell {
	c := b.qtyCell(d)
	return excelize.Cell{StyleID: c.style, Value: c.num}
}

// Cells of the table sheets (see workbook_rows.go).

// textCell is a string cell; the string is written as text, never as a
// formula. An empty string is no cell.
func textCell(s string) cell {
	if s == "" {
		return cell{}
	}
	return cell{kind: cellText, text: s}
}

// bytesCell is textCell for bytes that stay unchanged until the row is
// written.
func bytesCell(p []byte) cell {
	if len(p) == 0 {
		return cell{}
	}
	return cell{kind: cellBytes, raw: p}
}

func yesNoCell(p *bool) cell {
	switch {
	case p == nil:
		return cell{}
	case *p:
		return textCell("yes")
	default:
		return textCell("no")
	}
}

// moneyCell is a money cell in cur's number format.
func (b *builder) moneyCell(d decimal.Decimal, cur string) (cell, error) {
	s, err := b.st.money(cur, moneyPlain)
	return cell{kind: cellDecimal, style: s, dec: d}, err
}

// marginCell is a money cell that is highlighted when negative.
func (b *builder) marginCell(d decimal.Decimal, cur string) (cell, error) {
	v := moneyPlain
	if d.Sign() < 0 {
		v = moneyNegative
	}
	s, err := b.st.money(cur, v)
	return cell{kind: cellDecimal, style: s, dec: d}, err
}

// optMoneyCell is a money cell, or no cell when the amount is absent. unit
// selects the unit-price format (2 to 6 decimals).
func (b *builder) optMoneyCell(d decimal.NullDecimal, cur string, unit bool) (cell, error) {
	if !d.Valid {
		return cell{}, nil
	}
	v := moneyPlain
	if unit {
		v = moneyUnit
	}
	s, err := b.st.money(cur, v)
	return cell{kind: cellDecimal, style: s, dec: d.Decimal}, err
}

// percentCell is the Margin % cell of margin over receivable, or no cell
// when the receivable is zero.
func (b *builder) percentCell(margin, receivable decimal.Decimal) cell {
	pct, ok := report.MarginPercent(margin, receivable)
	if !ok {
		return cell{}
	}
	return cell{kind: cellDecimal, style: b.st.percent, dec: pct.Shift(-2)}
}

// qtyCell is a quantity cell: "#,##0" when the quantity is whole,
// "#,##0.0#########" when it has a fraction (a format for both would show
// whole numbers as "3.").
func (b *builder) qtyCell(d decimal.Decimal) cell {
	v := num(d)
	s := b.st.qty
	if v != math.Trunc(v) {
		s = b.st.qtyFrac
	}
	return cell{kind: cellFloat, style: s, num: v}
}

func (b *builder) optQtyCell(d decimal.NullDecimal) cell {
	if !d.Valid {
		return cell{}
	}
	return b.qtyCell(d.Decimal)
}

func (b *builder) countCell(n int64) cell {
	return cell{kind: cellInt, style: b.st.count, n: n}
}

// errCollector keeps the first error of a row of cell constructors.
type errCollector struct{ err error }

func (e *errCollector) cell(c excelize.Cell, err error) any {
	if err != nil && e.err == nil {
		e.err = err
	}
	return c
}

func (e *errCollector) c(c cell, err error) cell {
	if err != nil && e.err == nil {
		e.err = err
	}
	return c
}

func (b *builder) customers() error {
	t, err := b.newTable(SheetCustomers, []column{
		{"Customer ID", 38}, {"Customer", 32}, {"Currency", 10},
		{"Payable", 18}, {"Receivable", 18}, {"Margin", 18}, {"Margin %", 10},
	})
	if err != nil {
		return err
	}
	for i := range b.res.Customers {
		r := &b.res.Customers[i]
		var ec errCollector
		t.row = append(t.row[:0],
			textCell(r.CustomerID), textCell(r.CustomerName), textCell(r.Currency),
		)
		t.row = b.appendMargin(t.row, &ec, r.Payable, r.Receivable, r.Margin, r.Currency)
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

// appendMargin appends the Payable, Receivable, Margin and Margin % cells
// shared by the Customers and Products sheets.
func (b *builder) appendMargin(row []cell, ec *errCollector, payable, receivable, margin decimal.Decimal, currency string) []cell {
	return append(row,
		ec.c(b.moneyCell(payable, currency)),
		ec.c(b.moneyCell(receivable, currency)),
		ec.c(b.marginCell(margin, currency)),
		b.percentCell(margin, receivable),
	)
}

func (b *builder) products() error {
	t, err := b.newTable(SheetProducts, []column{
		{"SKU", 24}, {"Product", 40}, {"Currency", 10},
		{"Payable Qty", 12}, {"Receivable Qty", 14},
		{"Payable", 18}, {"Receivable", 18}, {"Margin", 18}, {"Margin %", 10},
	})
	if err != nil {
		return err
	}
	for i := range b.res.Products {
		r := &b.res.Products[i]
		var ec errCollector
		t.row = append(t.row[:0],
			textCell(r.SKU), textCell(r.Product), textCell(r.Currency),
			b.qtyCell(r.PayableQty), b.qtyCell(r.ReceivableQty),
		)
		t.row = b.appendMargin(t.row, &ec, r.Payable, r.Receivable, r.Margin, r.Currency)
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

func (b *builder) mismatches() error {
	t, err := b.newTable(SheetMismatches, []column{
		{"Kind", 22}, {"Label", 44}, {"Customer ID", 38}, {"Customer", 32}, {"SKU", 24}, {"Product", 40},
		{"Charge Type", 14}, {"Period From", 12}, {"Period To", 12}, {"Currency", 10},
		{"Payable Qty", 12}, {"Receivable Qty", 14},
		{"Payable Amount", 18}, {"Receivable Amount", 18}, {"Difference", 18}, {"Reason", 40},
		{"Charge ID", 38}, {"Invoice", 16}, {"Tags", 48}, {"Fingerprint", 18},
		{"Status", 10}, {"Accepted Reason", 40}, {"Accepted Amount", 18},
	})
	if err != nil {
		return err
	}
	for i := range b.res.Mismatches {
		m := &b.res.Mismatches[i]
		var ec errCollector
		t.row = append(t.row[:0],
			textCell(m.Kind), textCell(report.KindLabel(m.Kind)),
			textCell(m.CustomerID), textCell(m.CustomerName), textCell(m.SKU), textCell(m.Product),
			textCell(m.ChargeType), textCell(string(m.PeriodFrom)), textCell(string(m.PeriodTo)), textCell(m.Currency),
			b.qtyCell(m.PayableQty), b.qtyCell(m.ReceivableQty),
			ec.c(b.moneyCell(m.PayableAmount, m.Currency)),
			ec.c(b.moneyCell(m.ReceivableAmount, m.Currency)),
			ec.c(b.moneyCell(m.Difference(), m.Currency)),
			textCell(m.Reason),
			textCell(m.ChargeID), textCell(m.Invoice), textCell(m.Tags), textCell(report.Fingerprint(m)),
			textCell(m.StatusOrOpen()),
		)
		if a := m.Acceptance; a != nil {
			t.row = append(t.row, textCell(a.Reason), ec.c(b.moneyCell(a.Amount, m.Currency)))
		} else {
			t.row = append(t.row, textCell(""), textCell(""))
		}
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

// exceptions lists the register entries that applied to the run: one row
// per acceptance, with its status here and both amounts.
func (b *builder) exceptions() error {
	t, err := b.newTable(SheetExceptions, []column{
		{"Entry", 8}, {"Fingerprint", 18}, {"Status", 10}, {"Findings", 9}, {"Amount at Acceptance", 20},
		{"Amount Now", 18}, {"Band", 10}, {"Until", 10}, {"Accepted From Run", 18}, {"By", 18}, {"At", 22}, {"Reason", 48},
	})
	if err != nil {
		return err
	}
	for _, e := range b.res.Exceptions {
		until := e.Until
		if until == "" {
			until = "open-ended"
		}
		t.row = append(t.row[:0],
			b.countCell(e.ID), textCell(e.Fingerprint), textCell(e.Status), b.countCell(int64(e.Findings)),
			b.qtyCell(e.Amount), b.qtyCell(e.AmountNow), b.qtyCell(e.Band), textCell(until),
			b.countCell(e.RunID), textCell(e.By), textCell(e.At), textCell(e.Reason),
		)
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

// noInvoiceNote is the Note of the Invoices row of the lines without an
// invoice.
const noInvoiceNote = "payable lines with no invoice"

// invoices is the invoice tie-out: per Sherweb invoice and currency, the
// payable lines billed on it and their exact sum.
func (b *builder) invoices() error {
	t, err := b.newTable(SheetInvoices, []column{
		{"Invoice", 16}, {"Invoice Date", 12}, {"Currency", 10}, {"Lines", 10}, {"Payable", 18}, {"Note", 30},
	})
	if err != nil {
		return err
	}
	for i := range b.res.Invoices {
		iv := &b.res.Invoices[i]
		var ec errCollector
		note := ""
		if iv.Number == "" {
			note = noInvoiceNote
		}
		t.row = append(t.row[:0],
			textCell(iv.Number), textCell(string(iv.Date)), textCell(iv.Currency),
			b.countCell(int64(iv.Lines)), ec.c(b.moneyCell(iv.Payable, iv.Currency)), textCell(note),
		)
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

// payableColumns are the Payable sheet's columns.
var payableColumns = []column{
	{"Customer ID", 38}, {"Customer", 32}, {"Attribution", 18},
	{"Product ID", 38}, {"Product", 40}, {"SKU", 24}, {"Charge ID", 38}, {"Charge Name", 32},
	{"Charge Type", 14}, {"Billing Cycle", 14}, {"Period From", 12}, {"Period To", 12},
	{"Quantity", 10}, {"List Price", 14}, {"Net Price", 14}, {"Net Price Prorated", 18},
	{"Sub Total", 16}, {"Currency", 10}, {"Billed", 8}, {"Proratable", 11}, {"Invoice", 24},
	{"Deductions", 28}, {"Fees", 28}, {"Taxes", 24}, {"Tags", 48},
}

// Attribution column values.
const attributionAttributed = "attributed"

// attributePayable is the Customer ID, Customer and Attribution columns of
// a payable line.
func attributePayable(attr Attributor, names map[string]string, c *billing.PayableCharge) (id, name, attribution string) {
	var reason string
	if ra, ok := attr.(RuleAttributor); ok {
		id, name, reason = ra.AttributeRule(c)
	} else if attr != nil {
		id, name, reason = attr.Attribute(c)
	}
	attribution = reason
	// A rule-0 line (a [[mapping]] or [[internal]] entry) says so; a line
	// the tags attributed says "attributed".
	if id != "" && reason != report.RuleMapping {
		attribution = attributionAttributed
		if name == "" {
			name = names[id]
		}
	}
	return id, name, attribution
}

// payableRows reads the payable lines and hands each one's row to emit
// (the row is reused for the next line).
func (b *builder) payableRows(ctx context.Context, emit func([]cell) error) error {
	var ct compactTexts
	row := make([]cell, 0, len(payableColumns))
	n := 0
	err := b.detail.EachPayable(ctx, func(c *billing.PayableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		id, name, attribution := attributePayable(b.attr, b.names, c)
		ct.set(c)
		var ec errCollector
		row = append(row[:0],
			textCell(id), textCell(name), textCell(attribution),
			textCell(c.ProductID), textCell(c.ProductName), textCell(c.SKU), textCell(c.ChargeID), textCell(c.ChargeName),
			textCell(c.ChargeType), textCell(c.BillingCycleType), textCell(string(c.PeriodFrom)), textCell(string(c.PeriodTo)),
			b.optQtyCell(c.Quantity),
			ec.c(b.optMoneyCell(c.ListPrice, c.Currency, true)),
			ec.c(b.optMoneyCell(c.NetPrice, c.Currency, true)),
			ec.c(b.optMoneyCell(c.NetPriceProrated, c.Currency, true)),
			ec.c(b.optMoneyCell(c.SubTotal, c.Currency, false)),
			textCell(c.Currency), yesNoCell(c.IsBilled), yesNoCell(c.IsProratable),
			bytesCell(ct.invoice), bytesCell(ct.deductions),
			bytesCell(ct.fees), bytesCell(ct.taxes), bytesCell(ct.tags),
		)
		if ec.err != nil {
			return ec.err
		}
		return emit(row)
	})
	if err != nil {
		return fmt.Errorf("payable line %d: %w", n, err)
	}
	return nil
}

var receivableColumns = []column{
	{"Customer ID", 38}, {"Customer", 32}, {"Product", 40}, {"SKU", 24}, {"Charge ID", 38},
	{"Charge Name", 32}, {"Charge Type", 14}, {"Billing Cycle", 14}, {"Period From", 12},
	{"Period To", 12}, {"Quantity", 10}, {"Cost Price", 14}, {"Cost Price Prorated", 18},
	{"Amount", 16}, {"Currency", 10}, {"Proratable", 11},
}

// receivableRows reads the receivable lines and hands each one's row to
// emit (the row is reused for the next line).
func (b *builder) receivableRows(ctx context.Context, emit func([]cell) error) error {
	row := make([]cell, 0, len(receivableColumns))
	n := 0
	err := b.detail.EachReceivable(ctx, func(customerID string, c *billing.ReceivableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var amount cell
		var ec errCollector
		if c.Quantity.Valid && c.CostPriceProrated.Valid {
			amount = ec.c(b.moneyCell(c.Amount(), c.Currency))
		}
		row = append(row[:0],
			textCell(customerID), textCell(b.names[customerID]), textCell(c.ProductName), textCell(c.SKU), textCell(c.ChargeID),
			textCell(c.ChargeName), textCell(c.ChargeType), textCell(c.BillingCycleType), textCell(string(c.PeriodFrom)),
			textCell(string(c.PeriodTo)), b.optQtyCell(c.Quantity),
			ec.c(b.optMoneyCell(c.CostPrice, c.Currency, true)),
			ec.c(b.optMoneyCell(c.CostPriceProrated, c.Currency, true)),
			amount, textCell(c.Currency), yesNoCell(c.IsProratable),
		)
		if ec.err != nil {
			return ec.err
		}
		return emit(row)
	})
	if err != nil {
		return fmt.Errorf("receivable line %d: %w", n, err)
	}
	return nil
}

func (b *builder) run() error {
	t, err := b.newTable(SheetRun, []column{{"Field", 28}, {"Value", 60}})
	if err != nil {
		return err
	}
	runID := b.info.RunID
	if runID == "" {
		runID = b.res.RunID
	}
	rows := [][]cell{
		{textCell("Run ID"), textCell(runID)},
		{textCell("Tool Version"), textCell(b.info.ToolVersion)},
		{textCell("API Base URL"), textCell(b.info.BaseURL)},
		{textCell("Status"), textCell(string(b.info.Status))},
		{textCell("Period From"), textCell(string(b.res.Period.From))},
		{textCell("Period To"), textCell(string(b.res.Period.To))},
		{textCell("Started"), textCell(b.info.StartedAt)},
		{textCell("Finished"), textCell(b.info.FinishedAt)},
		{textCell("Calls"), b.countCell(b.info.Calls)},
		{textCell("Retries"), b.countCell(b.info.Retries)},
	}
	for _, s := range b.info.Settings {
		rows = append(rows, []cell{textCell(s[0]), textCell(s[1])})
	}
	for _, r := range rows {
		t.row = append(t.row[:0], r...)
		if err := t.add(); err != nil {
			return err
		}
	}
	return t.finish()
}

// column is a table column: header and width.
type column struct {
	name  string
	width float64
}

// table streams one table onto a sheet and its continuation sheets. The
// header row goes through excelize; the data rows go to the builder's row
// spool (workbook_rows.go), or through excelize's SetRow when the builder
// renders the reference output for tests.
type table struct {
	b       *builder
	base    string
	cols    []column
	part    int // 1 for the base sheet, 2 for "<base> (2)", …
	sheet   string
	sw      *excelize.StreamWriter
	rows    int       // data rows on the current sheet
	pipe    *partPipe // the current sheet's compressed part, from its first data row
	prefix  []byte    // the opening of the table's sheets (sheetPrefix)
	header  []any
	lastCol string
	row     []cell // the row being built, reused
	values  []any  // reference path only
	widths  []float64
}

func (b *builder) newTable(base string, cols []column) (*table, error) {
	if b.measure != nil {
		b.measure.start(b, cols)
		return &table{b: b, base: base, cols: cols, row: make([]cell, 0, len(cols))}, nil
	}
	t, err := b.tableOf(base, cols)
	if err != nil {
		return nil, err
	}
	return t, t.start()
}

// tableOf is newTable without opening the table's first sheet.
func (b *builder) tableOf(base string, cols []column) (*table, error) {
	t := &table{b: b, base: base, cols: cols, row: make([]cell, 0, len(cols))}
	t.widths = make([]float64, len(cols))
	for i, c := range cols {
		t.widths[i] = c.width
		if i < len(b.widths) {
			t.widths[i] = b.widths[i]
		}
	}
	t.header = make([]any, len(cols))
	for i, c := range cols {
		t.header[i] = excelize.Cell{StyleID: b.st.header, Value: c.name}
	}
	var err error
	if t.lastCol, err = excelize.ColumnNumberToName(len(cols)); err != nil {
		return nil, err
	}
	return t, nil
}

// start opens the next sheet of the table and writes its header.
func (t *table) start() error {
	t.part++
	t.sheet = sheetName(t.base, t.part)
	sw, err := openSheet(t.b.f, t.sheet, t.widths, t.header)
	if err != nil {
		return err
	}
	t.sw, t.rows, t.pipe = sw, 0, nil
	return nil
}

// sheetName is the name of sheet part (1, 2, …) of a table: "<base>",
// "<base> (2)", ….
func sheetName(base string, part int) string {
	if part > 1 {
		return base + " (" + strconv.Itoa(part) + ")"
	}
	return base
}

// opening returns the opening of the table's sheets (sheetPrefix), probed
// once.
func (t *table) opening() ([]byte, error) {
	if t.prefix == nil {
		var err error
		if t.prefix, _, err = sheetProbe(t.widths, t.header, nil); err != nil {
			return nil, err
		}
	}
	return t.prefix, nil
}

// add writes t.row as the next data row, continuing on a new sheet when
// this one is full.
func (t *table) add() error {
	if m := t.b.measure; m != nil {
		m.row(t.row)
		return nil
	}
	if t.rows >= t.b.maxRows {
		if err := t.finish(); err != nil {
			return err
		}
		if err := t.start(); err != nil {
			return err
		}
	}
	t.rows++
	r := t.rows + 1
	if t.b.parts == nil { // reference output
		t.values = t.values[:0]
		for _, c := range t.row {
			t.values = append(t.values, c.value())
		}
		if err := t.sw.SetRow("A"+strconv.Itoa(r), t.values); err != nil {
			return fmt.Errorf("sheet %q row %d: %w", t.sheet, r, err)
		}
		return nil
	}
	if t.pipe == nil {
		prefix, err := t.opening()
		if err != nil {
			return fmt.Errorf("sheet %q: %w", t.sheet, err)
		}
		if t.pipe, err = t.b.parts.start(prefix); err != nil {
			return fmt.Errorf("sheet %q: %w", t.sheet, err)
		}
	}
	if err := t.pipe.row(r, t.row); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", t.sheet, r, err)
	}
	return nil
}

// finish sets the current sheet's auto-filter and flushes it. The filter
// must be set before Flush: the stream writer writes the sheet's autoFilter
// element from its worksheet at Flush, and a filter set afterwards only
// reaches the workbook's defined names, so Excel would show no filter.
// Compressed data rows are represented by one marker row.
func (t *table) finish() error {
	if t.b.measure != nil {
		return nil
	}
	if t.pipe != nil {
		if err := t.sw.SetRow("A2", []any{t.b.parts.marker(t.pipe)}); err != nil {
			return fmt.Errorf("sheet %q: rows marker: %w", t.sheet, err)
		}
	}
	ref := "A1:" + t.lastCol + strconv.Itoa(t.rows+1)
	if err := t.b.closeSheet(t.b.f, t.sw, t.sheet, ref); err != nil {
		return err
	}
	if t.pipe != nil {
		// The closing excelize wrote is known now: complete the part.
		_, closing, err := sheetProbe(t.widths, t.header, func(f *excelize.File, sw *excelize.StreamWriter, sheet string) error {
			return t.b.closeSheet(f, sw, sheet, ref)
		})
		if err != nil {
			return fmt.Errorf("sheet %q: %w", t.sheet, err)
		}
		t.pipe.end(closing)
	}
	return nil
}

// closeSheet sets a table sheet's auto-filter over ref and its print set-up,
// and flushes its stream writer. The filter must be set before Flush: the
// stream writer writes the sheet's autoFilter element from its worksheet at
// Flush, and a filter set afterwards only reaches the workbook's defined
// names, so Excel would show no filter.
func (b *builder) closeSheet(f *excelize.File, sw *excelize.StreamWriter, sheet, ref string) error {
	if err := f.AutoFilter(sheet, ref, nil); err != nil {
		return fmt.Errorf("sheet %q: auto-filter: %w", sheet, err)
	}
	// Print set-up, also written at Flush: landscape, one page wide, the
	// header row on every page.
	if err := b.printSetupOn(f, sheet, 0); err != nil {
		return err
	}
	if err := f.SetDefinedName(&excelize.DefinedName{
		Name: "_xlnm.Print_Titles", RefersTo: quoteSheet(sheet) + "!$1:$1", Scope: sheet,
	}); err != nil {
		return fmt.Errorf("sheet %q: print titles: %w", sheet, err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("flush sheet %q: %w", sheet, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// quoteSheet quotes a sheet name for a formula reference.
func quoteSheet(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// printSetup sets a sheet's page: landscape, one page wide and tall pages
// high (0: as many as needed), the report, period and run id in the header
// and the sheet name and page number in the footer.
func (b *builder) printSetup(sheet string, tall int) error {
	return b.printSetupOn(b.f, sheet, tall)
}

// printSetupOn is printSetup on f (the workbook, or a probe of one of its
// sheets).
func (b *builder) printSetupOn(f *excelize.File, sheet string, tall int) error {
	if err := f.SetPageLayout(sheet, &excelize.PageLayoutOptions{
		Orientation: ptr("landscape"), FitToWidth: ptr(1), FitToHeight: ptr(tall),
	}); err != nil {
		return fmt.Errorf("sheet %q: page layout: %w", sheet, err)
	}
	if err := f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{
		Left: ptr(0.4), Right: ptr(0.4), Top: ptr(0.6), Bottom: ptr(0.6), Header: ptr(0.25), Footer: ptr(0.25),
	}); err != nil {
		return fmt.Errorf("sheet %q: page margins: %w", sheet, err)
	}
	if err := f.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{
		OddHeader: "&L" + headerText(summaryTitle) + "&C" + headerText(b.periodText()) + "&R" + headerText("Run "+b.runID()),
		OddFooter: "&L&A&RPage &P of &N",
	}); err != nil {
		return fmt.Errorf("sheet %q: header and footer: %w", sheet, err)
	}
	return nil
}

// headerText escapes "&" for a page header or footer.
func headerText(s string) string { return strings.ReplaceAll(s, "&", "&&") }

// periodText is "Period 2026-10-01 to 2026-10-31".
func (b *builder) periodText() string {
	return "Period " + string(b.res.Period.From) + " to " + string(b.res.Period.To)
}

func (b *builder) runID() string { return nonEmpty(b.res.RunID, b.info.RunID) }

func frozenHeader() *excelize.Panes {
	return &excelize.Panes{
		Freeze:      true,
		YSplit:      1,
		TopLeftCell: "A2",
		ActivePane:  "bottomLeft",
		Selection:   []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}
}

// sortContentTypeDefaults sorts the Default entries of [Content_Types].xml
// by extension: adding a chart makes excelize append the image extensions in
// Go map order, which would make the bytes differ between runs.
func sortContentTypeDefaults(f *excelize.File) {
	if f.ContentTypes == nil {
		return
	}
	d := f.ContentTypes.Defaults
	sort.SliceStable(d, func(i, j int) bool { return d[i].Extension < d[j].Extension })
}

// countingWriter counts bytes and discards them.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// makeScratchDir creates the private scratch directory for excelize's and
// the zip spool's temporary files inside dir, and proves it writable by
// writing and syncing a probe file: excelize silently keeps a sheet in
// memory when it cannot create its temporary file, so an unusable directory
// must fail here.
func makeScratchDir(dir, label string) (string, error) {
	scratch, err := atomicfile.MkdirScratch(dir, label)
	if err != nil {
		return "", fmt.Errorf("create scratch directory in %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(scratch, "probe-*")
	if err == nil {
		_, err = probe.Write(make([]byte, 4096))
		if err == nil {
			err = probe.Sync()
		}
		if cerr := probe.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = os.RemoveAll(scratch)
		return "", fmt.Errorf("temporary directory %s is not writable: %w", dir, err)
	}
	if err := os.Remove(probe.Name()); err != nil {
		_ = os.RemoveAll(scratch)
		return "", fmt.Errorf("remove probe file in %s: %w", filepath.Base(scratch), err)
	}
	return scratch, nil
}
