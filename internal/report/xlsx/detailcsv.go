package xlsx

// Payable and receivable detail as CSV files (WorkbookOptions.Detail =
// DetailCSV), for runs whose detail is too large for a comfortable workbook.
//
// Format: UTF-8 without a byte order mark, RFC 4180 (the bytes
// encoding/csv's Writer with UseCRLF writes, made by csvWriter: fields
// quoted when needed, CRLF line ends), one header row with the same column
// names as the Payable and Receivable sheets, then one row per line in the
// Detail's order.
//
//   - Amounts, prices and quantities are exact decimal text (billing.Text:
//     "1.50" keeps its trailing zero), never floats; an absent (null) amount
//     is an empty field, never 0. Numbers are never prefixed.
//   - Booleans are "yes" / "no" (empty when absent), as on the sheets; the
//     compact Invoice, Deductions, Fees, Taxes and Tags texts are the
//     sheets' texts.
//   - CSV injection: a text field (ids, names, SKUs, periods, compact texts,
//     anything that is not a number column) that starts with '=', '+', '-',
//     '@', a tab or a carriage return is written with a leading single quote
//     ("'=1+1", "'-2"), so that a spreadsheet opening the file shows it as
//     text instead of evaluating it. A consumer parsing the CSV should strip
//     one leading "'" from text fields that start with "'" followed by one of
//     those characters.

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
)

// checkDetail validates WorkbookOptions.Detail.
func checkDetail(d string) error {
	switch d {
	case "", DetailXLSX, DetailCSV:
		return nil
	}
	return fmt.Errorf("detail format %q: want %q or %q", d, DetailXLSX, DetailCSV)
}

// DetailCSVPaths are the files WriteWorkbook writes beside the workbook at
// workbookPath with DetailCSV: "<base>-payable.csv" and
// "<base>-receivable.csv", base being workbookPath without its extension
// ("out/recon.xlsx" → "out/recon-payable.csv", "out/recon-receivable.csv").
func DetailCSVPaths(workbookPath string) (payable, receivable string) {
	base := strings.TrimSuffix(workbookPath, filepath.Ext(workbookPath))
	return base + "-payable.csv", base + "-receivable.csv"
}

// csvInjects reports whether text field s starts with a character a
// spreadsheet would evaluate, and so gets a leading quote (CSV injection).
func csvInjects(s string) bool {
	return s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0
}

// csvSpecial marks the bytes that make encoding/csv quote a field
// (fieldNeedsQuotes, with ',' as the separator).
var csvSpecial = [256]bool{'\n': true, '\r': true, '"': true, ',': true}

// csvNeedsQuotes is encoding/csv's Writer.fieldNeedsQuotes for the field
// prefix+s (prefix is "" or "'"): a field holding a separator, quote, CR or
// LF, the field `\.`, or one starting with a space (unicode.IsSpace).
func csvNeedsQuotes(prefix, s string) bool {
	if prefix == "" && s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		if csvSpecial[s[i]] {
			return true
		}
	}
	if prefix != "" || s == "" {
		return false // a quote does not start with a space
	}
	if c := s[0]; c < utf8.RuneSelf {
		return c == ' ' || c == '\t' || c == '\v' || c == '\f' // CR and LF are special
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// appendCSVField appends the field prefix+s as encoding/csv's Writer with
// UseCRLF writes it: as it is, or quoted, a quote doubled, LF written as
// CRLF and a CR dropped.
func appendCSVField(dst []byte, prefix, s string) []byte {
	if !csvNeedsQuotes(prefix, s) {
		return append(append(dst, prefix...), s...)
	}
	dst = append(append(dst, '"'), prefix...)
	for len(s) > 0 {
		i := strings.IndexAny(s, "\"\r\n")
		if i < 0 {
			i = len(s)
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) > 0 {
			switch s[0] {
			case '"':
				dst = append(dst, '"', '"')
			case '\n':
				dst = append(dst, '\r', '\n')
			}
			s = s[1:]
		}
	}
	return append(dst, '"')
}

// csvWriter writes the detail files' records: RFC 4180, the bytes
// encoding/csv's Writer with UseCRLF writes (detailcsv_test.go compares
// them), built in one buffer that goes to the writer in large writes,
// without a string per field.
type csvWriter struct {
	w       io.Writer
	buf     []byte
	scratch []byte // a compact text being made
	fields  int    // in the current record
	err     error
}

// csvFlushAt is how much a csvWriter gathers before it writes.
const csvFlushAt = 64 << 10

func newCSVWriter(w io.Writer) *csvWriter {
	return &csvWriter{w: w, buf: make([]byte, 0, csvFlushAt+8<<10)}
}

func (c *csvWriter) sep() {
	if c.fields > 0 {
		c.buf = append(c.buf, ',')
	}
	c.fields++
}

// field appends s as the next field.
func (c *csvWriter) field(s string) {
	c.sep()
	c.buf = appendCSVField(c.buf, "", s)
}

// text appends s as the next text field, with a leading quote when
// csvInjects.
func (c *csvWriter) text(s string) {
	c.sep()
	if csvInjects(s) {
		c.buf = appendCSVField(c.buf, "'", s)
		return
	}
	c.buf = appendCSVField(c.buf, "", s)
}

// texts appends each of ss as a text field.
func (c *csvWriter) texts(ss ...string) {
	for _, s := range ss {
		c.text(s)
	}
}

// decs appends each of ds as a decimal field.
func (c *csvWriter) decs(ds ...decimal.NullDecimal) {
	for _, d := range ds {
		c.dec(d)
	}
}

// scratchText is text for the compact text made in c.scratch, and resets
// the scratch.
func (c *csvWriter) scratchText() {
	c.text(unsafe.String(unsafe.SliceData(c.scratch), len(c.scratch)))
	c.scratch = c.scratch[:0]
}

// dec appends d as the next field: billing.Text(d) (only digits, '-' and
// '.', which encoding/csv never quotes), or nothing when d is absent (null).
func (c *csvWriter) dec(d decimal.NullDecimal) {
	c.sep()
	if d.Valid {
		c.buf = appendText(c.buf, d.Decimal)
	}
}

// record ends the record and writes the buffer once it is large (a
// csvWriter without a writer keeps it all: EarlyReceivable's chunks).
func (c *csvWriter) record() error {
	c.buf = append(c.buf, '\r', '\n')
	c.fields = 0
	if len(c.buf) >= csvFlushAt && c.w != nil {
		return c.flush()
	}
	return c.err
}

// flush writes what is buffered.
func (c *csvWriter) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
	return c.err
}

// header writes a header record of cols' names.
func (c *csvWriter) header(cols []column) error {
	for _, col := range cols {
		c.field(col.name)
	}
	return c.record()
}

// receivable appends the fields of receivable line c of customer
// customerID, named name: the Receivable sheet's columns (the record is
// not ended).
func (c *csvWriter) receivable(customerID, name string, r *billing.ReceivableCharge) {
	c.texts(customerID, name, r.ProductName, r.SKU, r.ChargeID, r.ChargeName, r.ChargeType,
		r.BillingCycleType, string(r.PeriodFrom), string(r.PeriodTo))
	c.decs(r.Quantity, r.CostPrice, r.CostPriceProrated)
	if r.Quantity.Valid && r.CostPriceProrated.Valid {
		c.dec(decimal.NewNullDecimal(r.Amount()))
	} else {
		c.dec(decimal.NullDecimal{})
	}
	c.text(r.Currency)
	c.field(csvBool(r.IsProratable))
}

func csvBool(p *bool) string {
	switch {
	case p == nil:
		return ""
	case *p:
		return "yes"
	default:
		return "no"
	}
}

// WritePayableCSV writes the payable lines of detail to w as CSV, with the
// Payable sheet's columns (attribution from attr and customer
// names from res, as on the sheet).
func WritePayableCSV(ctx context.Context, w io.Writer, res *report.Result, attr Attributor, detail Detail) error {
	if res == nil || detail == nil {
		return fmt.Errorf("write payable csv: no result or detail")
	}
	_, err := writePayableCSV(ctx, w, customerNames(res), attr, detail, nil, 0)
	return err
}

// writePayableCSV is WritePayableCSV with the customer names of the
// Result (customerNames), and returns the number of lines written. looked,
// when not nil, receives the ids of the customers whose name was looked up
// in names because the attribution gave none (the early payable file
// checks them against the Result: early.go). yield, when not 0, makes it
// yield the processor every yield lines (runtime.Gosched: early.go).
func writePayableCSV(ctx context.Context, w io.Writer, names map[string]string, attr Attributor, detail Detail, looked map[string]struct{}, yield int) (int64, error) {
	cw := newCSVWriter(w)
	if err := cw.header(payableColumns); err != nil {
		return 0, fmt.Errorf("write payable csv header: %w", err)
	}
	n := 0
	// Every field is copied into cw's buffer; the attribution's id and name
	// are the Attributor's own strings: nothing of a line is kept, so its
	// texts may be views (ViewDetail).
	err := eachPayableLent(ctx, detail, func(c *billing.PayableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if yield > 0 && n%yield == 0 {
			runtime.Gosched()
		}
		id, name, attribution := attributePayable(attr, names, c)
		if looked != nil && name == "" && attribution == attributionAttributed {
			if _, ok := looked[id]; !ok {
				looked[strings.Clone(id)] = struct{}{} // an Attributor may answer with a view of the line
			}
		}
		cw.texts(id, name, attribution, c.ProductID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName,
			c.ChargeType, c.BillingCycleType, string(c.PeriodFrom), string(c.PeriodTo))
		cw.decs(c.Quantity, c.ListPrice, c.NetPrice, c.NetPriceProrated, c.SubTotal)
		cw.text(c.Currency)
		cw.field(csvBool(c.IsBilled))
		cw.field(csvBool(c.IsProratable))
		cw.scratch = appendInvoice(cw.scratch, c.Invoice)
		cw.scratchText()
		cw.scratch = appendDeductions(cw.scratch, c.Deductions)
		cw.scratchText()
		cw.scratch = appendFees(cw.scratch, c.Fees)
		cw.scratchText()
		cw.scratch = appendTaxes(cw.scratch, c.Taxes)
		cw.scratchText()
		cw.scratch = appendTags(cw.scratch, c.Tags)
		cw.scratchText()
		return cw.record()
	})
	if err != nil {
		return 0, fmt.Errorf("write payable csv line %d: %w", n, err)
	}
	if err := cw.flush(); err != nil {
		return 0, fmt.Errorf("write payable csv: %w", err)
	}
	return int64(n), ctx.Err()
}

// WriteReceivableCSV writes the receivable lines of detail to w as CSV,
// with the Receivable sheet's columns. Amount is Quantity × Cost Price
// Prorated, exact, empty when either is absent.
func WriteReceivableCSV(ctx context.Context, w io.Writer, res *report.Result, detail Detail) error {
	if res == nil || detail == nil {
		return fmt.Errorf("write receivable csv: no result or detail")
	}
	cw := newCSVWriter(w)
	if err := cw.header(receivableColumns); err != nil {
		return fmt.Errorf("write receivable csv header: %w", err)
	}
	names := customerNames(res)
	n := 0
	// Nothing of a line is kept (names is only looked up): see writePayableCSV.
	err := eachReceivableLent(ctx, detail, func(customerID string, c *billing.ReceivableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cw.receivable(customerID, names[customerID], c)
		return cw.record()
	})
	if err != nil {
		return fmt.Errorf("write receivable csv line %d: %w", n, err)
	}
	if err := cw.flush(); err != nil {
		return fmt.Errorf("write receivable csv: %w", err)
	}
	return ctx.Err()
}
