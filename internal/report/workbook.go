package report

// The Excel workbook of one reconciliation run.
//
// Layout (reconciliation rules, "Workbook layout"): sheets Summary, Customers,
// Products, Mismatches, Payable, Receivable and Run, in this order, each with
// a bold header in row 1, row 1 frozen and an auto-filter over the data. A
// table sheet that would exceed WorkbookOptions.MaxRowsPerSheet data rows
// continues on "<name> (2)", "<name> (3)", … right after it, each with the
// header again; nothing is ever truncated.
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
//   - Quantities are numeric in the General format: it shows integers as "3"
//     (where `#,##0.######` would show "3.") and fractions with all their
//     digits up to the column width.
//   - Identifiers, SKUs, names, dates, periods and enums are always string
//     cells (inline strings on streamed sheets, shared strings on Summary),
//     never formulas, so "=1+1", "-2" or "0012345" stay exactly as sent.
//   - A null (absent) amount is an empty cell, never 0.
//
// Output is deterministic: the same inputs give byte-identical files. excelize
// writes fixed docProps timestamps, but it walks its streamed sheets in Go map
// order when zipping, so the workbook is zipped through sortedZip, which
// spools the compressed parts to a scratch file and writes them sorted by
// name. That also keeps the finished zip out of memory (excelize would
// otherwise build it in a bytes.Buffer before writing a byte).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// Sheet names of the workbook.
const (
	SheetSummary    = "Summary"
	SheetCustomers  = "Customers"
	SheetProducts   = "Products"
	SheetMismatches = "Mismatches"
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
}

// RenderWorkbook renders the reconciliation workbook to w.
func RenderWorkbook(ctx context.Context, w io.Writer, res *Result, info RunInfo, detail Detail, opts WorkbookOptions) error {
	if opts.TmpDir == "" {
		opts.TmpDir = os.TempDir()
	}
	return render(ctx, w, res, info, detail, opts, "reconcile-xlsx")
}

// render does the work of RenderWorkbook; label names the scratch directory
// (".<label>-scratch-*.tmp", which CleanStaleTemp recognises).
func render(ctx context.Context, w io.Writer, res *Result, info RunInfo, detail Detail, opts WorkbookOptions, label string) (err error) {
	if res == nil {
		return errors.New("render workbook: no result")
	}
	if detail == nil {
		return errors.New("render workbook: no detail")
	}
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
	b := &builder{
		ctx:     ctx,
		f:       f,
		res:     res,
		info:    info,
		detail:  detail,
		maxRows: opts.MaxRowsPerSheet,
		names:   customerNames(res),
	}
	b.st, err = newStyles(f)
	if err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	if err := b.build(); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("render workbook: %w", err)
	}

	sortContentTypeDefaults(f)
	z := newSortedZip(w, scratch)
	defer z.cleanup()
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
	res     *Result
	info    RunInfo
	detail  Detail
	maxRows int
	names   map[string]string // customer id → name
}

func (b *builder) build() error {
	if err := b.summary(); err != nil {
		return fmt.Errorf("summary sheet: %w", err)
	}
	if err := b.customers(); err != nil {
		return fmt.Errorf("customers sheet: %w", err)
	}
	if err := b.products(); err != nil {
		return fmt.Errorf("products sheet: %w", err)
	}
	if err := b.mismatches(); err != nil {
		return fmt.Errorf("mismatches sheet: %w", err)
	}
	if err := b.payable(); err != nil {
		return fmt.Errorf("payable sheet: %w", err)
	}
	if err := b.receivable(); err != nil {
		return fmt.Errorf("receivable sheet: %w", err)
	}
	if err := b.run(); err != nil {
		return fmt.Errorf("run sheet: %w", err)
	}
	return nil
}

// customerNames maps customer ids to names from everything the Result knows.
func customerNames(res *Result) map[string]string {
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

// optMoney is a money cell, or no cell when the amount is absent. unit
// selects the unit-price format (2 to 6 decimals).
func (b *builder) optMoney(d decimal.NullDecimal, cur string, unit bool) (any, error) {
	if !d.Valid {
		return nil, nil
	}
	v := moneyPlain
	if unit {
		v = moneyUnit
	}
	s, err := b.st.money(cur, v)
	return excelize.Cell{StyleID: s, Value: num(d.Decimal)}, err
}

// percent is the Margin % cell of margin over receivable, or no cell when
// the receivable is zero.
func (b *builder) percent(margin, receivable decimal.Decimal) any {
	pct, ok := MarginPercent(margin, receivable)
	if !ok {
		return nil
	}
	return excelize.Cell{StyleID: b.st.percent, Value: num(pct.Shift(-2))}
}

// qty is a quantity cell.
func (b *builder) qty(d decimal.Decimal) excelize.Cell {
	return excelize.Cell{StyleID: b.st.qty, Value: num(d)}
}

func (b *builder) optQty(d decimal.NullDecimal) any {
	if !d.Valid {
		return nil
	}
	return b.qty(d.Decimal)
}

// text is a string cell; the string is written as text, never as a formula.
func text(s string) any {
	if s == "" {
		return nil
	}
	return excelize.Cell{Value: s}
}

func yesNo(p *bool) any {
	switch {
	case p == nil:
		return nil
	case *p:
		return text("yes")
	default:
		return text("no")
	}
}

// errCollector keeps the first error of a row of cell constructors.
type errCollector struct{ err error }

func (e *errCollector) cell(c excelize.Cell, err error) any {
	if err != nil && e.err == nil {
		e.err = err
	}
	return c
}

func (e *errCollector) any(c any, err error) any {
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
		row := []any{
			text(r.CustomerID), text(r.CustomerName), text(r.Currency),
			ec.cell(b.money(r.Payable, r.Currency)),
			ec.cell(b.money(r.Receivable, r.Currency)),
			ec.cell(b.margin(r.Margin, r.Currency)),
			b.percent(r.Margin, r.Receivable),
		}
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(row); err != nil {
			return err
		}
	}
	return t.finish()
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
		row := []any{
			text(r.SKU), text(r.Product), text(r.Currency),
			b.qty(r.PayableQty), b.qty(r.ReceivableQty),
			ec.cell(b.money(r.Payable, r.Currency)),
			ec.cell(b.money(r.Receivable, r.Currency)),
			ec.cell(b.margin(r.Margin, r.Currency)),
			b.percent(r.Margin, r.Receivable),
		}
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(row); err != nil {
			return err
		}
	}
	return t.finish()
}

func (b *builder) mismatches() error {
	t, err := b.newTable(SheetMismatches, []column{
		{"Kind", 22}, {"Customer ID", 38}, {"Customer", 32}, {"SKU", 24}, {"Product", 40},
		{"Charge Type", 14}, {"Period From", 12}, {"Period To", 12}, {"Currency", 10},
		{"Payable Qty", 12}, {"Receivable Qty", 14},
		{"Payable Amount", 18}, {"Receivable Amount", 18}, {"Difference", 18}, {"Reason", 40},
	})
	if err != nil {
		return err
	}
	for i := range b.res.Mismatches {
		m := &b.res.Mismatches[i]
		var ec errCollector
		row := []any{
			text(m.Kind), text(m.CustomerID), text(m.CustomerName), text(m.SKU), text(m.Product),
			text(m.ChargeType), text(string(m.PeriodFrom)), text(string(m.PeriodTo)), text(m.Currency),
			b.qty(m.PayableQty), b.qty(m.ReceivableQty),
			ec.cell(b.money(m.PayableAmount, m.Currency)),
			ec.cell(b.money(m.ReceivableAmount, m.Currency)),
			ec.cell(b.money(m.Difference(), m.Currency)),
			text(m.Reason),
		}
		if ec.err != nil {
			return ec.err
		}
		if err := t.add(row); err != nil {
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

func (b *builder) payable() error {
	t, err := b.newTable(SheetPayable, payableColumns)
	if err != nil {
		return err
	}
	row := make([]any, len(payableColumns))
	n := 0
	err = b.detail.EachPayable(b.ctx, func(c *billing.PayableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := b.ctx.Err(); err != nil {
				return err
			}
		}
		var id, name, reason string
		if b.res.Attribute != nil {
			id, name, reason = b.res.Attribute(c)
		}
		attribution := reason
		if id != "" {
			attribution = attributionAttributed
			if name == "" {
				name = b.names[id]
			}
		}
		var ec errCollector
		row = append(row[:0],
			text(id), text(name), text(attribution),
			text(c.ProductID), text(c.ProductName), text(c.SKU), text(c.ChargeID), text(c.ChargeName),
			text(c.ChargeType), text(c.BillingCycleType), text(string(c.PeriodFrom)), text(string(c.PeriodTo)),
			b.optQty(c.Quantity),
			ec.any(b.optMoney(c.ListPrice, c.Currency, true)),
			ec.any(b.optMoney(c.NetPrice, c.Currency, true)),
			ec.any(b.optMoney(c.NetPriceProrated, c.Currency, true)),
			ec.any(b.optMoney(c.SubTotal, c.Currency, false)),
			text(c.Currency), yesNo(c.IsBilled), yesNo(c.IsProratable),
			text(invoiceText(c.Invoice)), text(deductionsText(c.Deductions)),
			text(feesText(c.Fees)), text(taxesText(c.Taxes)), text(tagsText(c.Tags)),
		)
		if ec.err != nil {
			return ec.err
		}
		return t.add(row)
	})
	if err != nil {
		return fmt.Errorf("payable line %d: %w", n, err)
	}
	return t.finish()
}

var receivableColumns = []column{
	{"Customer ID", 38}, {"Customer", 32}, {"Product", 40}, {"SKU", 24}, {"Charge ID", 38},
	{"Charge Name", 32}, {"Charge Type", 14}, {"Billing Cycle", 14}, {"Period From", 12},
	{"Period To", 12}, {"Quantity", 10}, {"Cost Price", 14}, {"Cost Price Prorated", 18},
	{"Amount", 16}, {"Currency", 10}, {"Proratable", 11},
}

func (b *builder) receivable() error {
	t, err := b.newTable(SheetReceivable, receivableColumns)
	if err != nil {
		return err
	}
	row := make([]any, len(receivableColumns))
	n := 0
	err = b.detail.EachReceivable(b.ctx, func(customerID string, c *billing.ReceivableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := b.ctx.Err(); err != nil {
				return err
			}
		}
		var amount any
		var ec errCollector
		if c.Quantity.Valid && c.CostPriceProrated.Valid {
			amount = ec.cell(b.money(c.Amount(), c.Currency))
		}
		row = append(row[:0],
			text(customerID), text(b.names[customerID]), text(c.ProductName), text(c.SKU), text(c.ChargeID),
			text(c.ChargeName), text(c.ChargeType), text(c.BillingCycleType), text(string(c.PeriodFrom)),
			text(string(c.PeriodTo)), b.optQty(c.Quantity),
			ec.any(b.optMoney(c.CostPrice, c.Currency, true)),
			ec.any(b.optMoney(c.CostPriceProrated, c.Currency, true)),
			amount, text(c.Currency), yesNo(c.IsProratable),
		)
		if ec.err != nil {
			return ec.err
		}
		return t.add(row)
	})
	if err != nil {
		return fmt.Errorf("receivable line %d: %w", n, err)
	}
	return t.finish()
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
	rows := [][]any{
		{text("Run ID"), text(runID)},
		{text("Tool Version"), text(b.info.ToolVersion)},
		{text("API Base URL"), text(b.info.BaseURL)},
		{text("Status"), text(b.info.Status)},
		{text("Period From"), text(string(b.res.Period.From))},
		{text("Period To"), text(string(b.res.Period.To))},
		{text("Started"), text(b.info.StartedAt)},
		{text("Finished"), text(b.info.FinishedAt)},
		{text("Calls"), excelize.Cell{StyleID: b.st.count, Value: b.info.Calls}},
		{text("Retries"), excelize.Cell{StyleID: b.st.count, Value: b.info.Retries}},
	}
	for _, s := range b.info.Settings {
		rows = append(rows, []any{text(s[0]), text(s[1])})
	}
	for _, r := range rows {
		if err := t.add(r); err != nil {
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

// table streams one table onto a sheet and its continuation sheets.
type table struct {
	b       *builder
	base    string
	cols    []column
	part    int // 1 for the base sheet, 2 for "<base> (2)", …
	sheet   string
	sw      *excelize.StreamWriter
	rows    int // data rows on the current sheet
	header  []any
	lastCol string
}

func (b *builder) newTable(base string, cols []column) (*table, error) {
	t := &table{b: b, base: base, cols: cols}
	t.header = make([]any, len(cols))
	for i, c := range cols {
		t.header[i] = excelize.Cell{StyleID: b.st.header, Value: c.name}
	}
	var err error
	if t.lastCol, err = excelize.ColumnNumberToName(len(cols)); err != nil {
		return nil, err
	}
	return t, t.start()
}

// start opens the next sheet of the table and writes its header.
func (t *table) start() error {
	t.part++
	t.sheet = t.base
	if t.part > 1 {
		t.sheet = t.base + " (" + strconv.Itoa(t.part) + ")"
	}
	if _, err := t.b.f.NewSheet(t.sheet); err != nil {
		return fmt.Errorf("create sheet %q: %w", t.sheet, err)
	}
	sw, err := t.b.f.NewStreamWriter(t.sheet)
	if err != nil {
		return fmt.Errorf("stream sheet %q: %w", t.sheet, err)
	}
	for i, c := range t.cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return fmt.Errorf("sheet %q: column width: %w", t.sheet, err)
		}
	}
	if err := sw.SetPanes(frozenHeader()); err != nil {
		return fmt.Errorf("sheet %q: freeze header: %w", t.sheet, err)
	}
	if err := sw.SetRow("A1", t.header); err != nil {
		return fmt.Errorf("sheet %q: header: %w", t.sheet, err)
	}
	t.sw, t.rows = sw, 0
	return nil
}

// add writes one data row, continuing on a new sheet when this one is full.
func (t *table) add(values []any) error {
	if t.rows >= t.b.maxRows {
		if err := t.finish(); err != nil {
			return err
		}
		if err := t.start(); err != nil {
			return err
		}
	}
	t.rows++
	if err := t.sw.SetRow("A"+strconv.Itoa(t.rows+1), values); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", t.sheet, t.rows+1, err)
	}
	return nil
}

// finish sets the current sheet's auto-filter and flushes it. The filter
// must be set before Flush: the stream writer writes the sheet's autoFilter
// element from its worksheet at Flush, and a filter set afterwards only
// reaches the workbook's defined names, so Excel would show no filter.
func (t *table) finish() error {
	ref := "A1:" + t.lastCol + strconv.Itoa(t.rows+1)
	if err := t.b.f.AutoFilter(t.sheet, ref, nil); err != nil {
		return fmt.Errorf("sheet %q: auto-filter: %w", t.sheet, err)
	}
	if err := t.sw.Flush(); err != nil {
		return fmt.Errorf("flush sheet %q: %w", t.sheet, err)
	}
	return nil
}

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
	scratch, err := os.MkdirTemp(dir, "."+label+scratchInfix+"*"+tmpSuffix)
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
