package xlsx

// Payable and receivable detail as CSV files (WorkbookOptions.Detail =
// DetailCSV), for runs whose detail is too large for a comfortable workbook.
//
// Format: UTF-8 without a byte order mark, RFC 4180 (encoding/csv: fields
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
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"

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

// csvText is a text field, protected against CSV injection.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvTexts makes the computed fields of a row (amounts as billing.Text,
// compact texts) in one buffer and then one string, instead of a string
// (and, for an amount, math/big's formatting) each.
type csvTexts struct {
	buf  []byte
	ends []int
	strs []string
}

func (t *csvTexts) reset() { t.buf, t.ends = t.buf[:0], t.ends[:0] }

// end ends the next field: b is t.buf with the field appended.
func (t *csvTexts) end(b []byte) {
	t.buf = b
	t.ends = append(t.ends, len(b))
}

// dec appends d as the next field: billing.Text(d), or nothing when d is
// absent (null).
func (t *csvTexts) dec(d decimal.NullDecimal) {
	if d.Valid {
		t.end(appendText(t.buf, d.Decimal))
		return
	}
	t.end(t.buf)
}

// fields returns the fields, valid until the next reset.
func (t *csvTexts) fields() []string {
	s := string(t.buf)
	t.strs = t.strs[:0]
	start := 0
	for _, e := range t.ends {
		t.strs = append(t.strs, s[start:e])
		start = e
	}
	return t.strs
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

func csvHeader(cols []column) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.name
	}
	return h
}

// WritePayableCSV writes the payable lines of detail to w as CSV, with the
// Payable sheet's columns (attribution from attr and customer
// names from res, as on the sheet).
func WritePayableCSV(ctx context.Context, w io.Writer, res *report.Result, attr Attributor, detail Detail) error {
	if res == nil || detail == nil {
		return fmt.Errorf("write payable csv: no result or detail")
	}
	_, err := writePayableCSV(ctx, w, customerNames(res), attr, detail, nil)
	return err
}

// writePayableCSV is WritePayableCSV with the customer names of the
// Result (customerNames), and returns the number of lines written. looked,
// when not nil, receives the ids of the customers whose name was looked up
// in names because the attribution gave none (the early payable file
// checks them against the Result: early.go).
func writePayableCSV(ctx context.Context, w io.Writer, names map[string]string, attr Attributor, detail Detail, looked map[string]struct{}) (int64, error) {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader(payableColumns)); err != nil {
		return 0, fmt.Errorf("write payable csv header: %w", err)
	}
	rec := make([]string, len(payableColumns))
	var texts csvTexts
	n := 0
	err := detail.EachPayable(ctx, func(c *billing.PayableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		id, name, attribution := attributePayable(attr, names, c)
		if looked != nil && name == "" && attribution == attributionAttributed {
			looked[id] = struct{}{}
		}
		// The amounts and the compact texts of the line, made in one string.
		t := &texts
		t.reset()
		t.dec(c.Quantity)
		t.dec(c.ListPrice)
		t.dec(c.NetPrice)
		t.dec(c.NetPriceProrated)
		t.dec(c.SubTotal)
		t.end(appendInvoice(t.buf, c.Invoice))
		t.end(appendDeductions(t.buf, c.Deductions))
		t.end(appendFees(t.buf, c.Fees))
		t.end(appendTaxes(t.buf, c.Taxes))
		t.end(appendTags(t.buf, c.Tags))
		f := t.fields()
		rec = append(rec[:0],
			csvText(id), csvText(name), csvText(attribution),
			csvText(c.ProductID), csvText(c.ProductName), csvText(c.SKU), csvText(c.ChargeID), csvText(c.ChargeName),
			csvText(c.ChargeType), csvText(c.BillingCycleType), csvText(string(c.PeriodFrom)), csvText(string(c.PeriodTo)),
			f[0], f[1], f[2], f[3], f[4],
			csvText(c.Currency), csvBool(c.IsBilled), csvBool(c.IsProratable),
			csvText(f[5]), csvText(f[6]), csvText(f[7]), csvText(f[8]), csvText(f[9]),
		)
		return cw.Write(rec)
	})
	if err != nil {
		return 0, fmt.Errorf("write payable csv line %d: %w", n, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
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
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader(receivableColumns)); err != nil {
		return fmt.Errorf("write receivable csv header: %w", err)
	}
	names := customerNames(res)
	rec := make([]string, len(receivableColumns))
	var texts csvTexts
	n := 0
	err := detail.EachReceivable(ctx, func(customerID string, c *billing.ReceivableCharge) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		t := &texts
		t.reset()
		t.dec(c.Quantity)
		t.dec(c.CostPrice)
		t.dec(c.CostPriceProrated)
		if c.Quantity.Valid && c.CostPriceProrated.Valid {
			t.end(appendText(t.buf, c.Amount()))
		} else {
			t.end(t.buf)
		}
		f := t.fields()
		rec = append(rec[:0],
			csvText(customerID), csvText(names[customerID]), csvText(c.ProductName), csvText(c.SKU), csvText(c.ChargeID),
			csvText(c.ChargeName), csvText(c.ChargeType), csvText(c.BillingCycleType), csvText(string(c.PeriodFrom)),
			csvText(string(c.PeriodTo)), f[0], f[1], f[2],
			f[3], csvText(c.Currency), csvBool(c.IsProratable),
		)
		return cw.Write(rec)
	})
	if err != nil {
		return fmt.Errorf("write receivable csv line %d: %w", n, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write receivable csv: %w", err)
	}
	return ctx.Err()
}
