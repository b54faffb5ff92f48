package xlsx

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/xuri/excelize/v2"
)

// The trend workbook (comparison-rules.md, "Trend"): sheets Summary (a line
// chart of margin per currency over the months, with its data), Periods (one
// row per month × currency; a month without a run is one row with status
// missing and empty amounts, never zeros), Customers (one row per customer ×
// currency, one margin column per month, empty where the customer has no row
// that month) and Run.

// Sheet names of the trend workbook.
const SheetPeriods = "Periods"

// TrendSheets are the trend workbook's sheets, in order.
var TrendSheets = []string{SheetSummary, SheetPeriods, SheetCustomers, SheetRun}

// TrendInfo is the provenance shown on the trend's Run sheet.
type TrendInfo struct {
	ToolVersion string
	Settings    [][2]string
}

// WriteTrend renders the trend workbook to path atomically.
func WriteTrend(ctx context.Context, path string, t *report.Trend, info TrendInfo, opts WorkbookOptions) error {
	return writeAtomic(ctx, path, opts, "reconcile-trend", func(b *builder) error { return buildTrend(b, t, info) })
}

// RenderTrend renders the trend workbook to w.
func RenderTrend(ctx context.Context, w io.Writer, t *report.Trend, info TrendInfo, opts WorkbookOptions) error {
	return renderWith(ctx, w, opts, "reconcile-trend", func(b *builder) error { return buildTrend(b, t, info) })
}

func buildTrend(b *builder, t *report.Trend, info TrendInfo) error {
	if t == nil {
		return fmt.Errorf("no trend")
	}
	if err := trendSummary(b, t); err != nil {
		return fmt.Errorf("summary sheet: %w", err)
	}
	if err := trendPeriods(b, t); err != nil {
		return fmt.Errorf("periods sheet: %w", err)
	}
	if err := trendCustomers(b, t); err != nil {
		return fmt.Errorf("customers sheet: %w", err)
	}
	rows := [][2]string{{"From", t.From}, {"To", t.To}, {"Tool Version", info.ToolVersion}}
	for _, p := range t.Periods {
		rows = append(rows, [2]string{"Run " + p.Month, trendRunText(p)})
	}
	if err := b.runTable(append(rows, info.Settings...)); err != nil {
		return fmt.Errorf("run sheet: %w", err)
	}
	return nil
}

func trendRunText(p report.TrendPeriod) string {
	if p.Status == report.TrendMissing {
		return "missing: no complete or partial run in the ledger"
	}
	return p.RunID + " (" + p.Status + ")"
}

// trendCurrencies are the currencies of the trend, sorted.
func trendCurrencies(t *report.Trend) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range t.Periods {
		for _, tot := range p.Totals {
			if !seen[tot.Currency] {
				seen[tot.Currency] = true
				out = append(out, tot.Currency)
			}
		}
	}
	slices.Sort(out)
	return out
}

func trendSummary(b *builder, t *report.Trend) error {
	f := b.f
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return err
	}
	curs := trendCurrencies(t)
	ws := []float64{14, 12, 12}
	for range curs {
		ws = append(ws, 18)
	}
	if err := b.setWidths(SheetSummary, ws...); err != nil {
		return err
	}
	p := &page{b: b, sheet: SheetSummary}
	if err := p.line(excelize.Cell{StyleID: b.st.title, Value: "Sherweb margin trend " + t.From + " to " + t.To}); err != nil {
		return err
	}
	missing, incomplete := 0, 0
	for _, per := range t.Periods {
		switch per.Status {
		case report.TrendMissing:
			missing++
		case report.TrendIncomplete:
			incomplete++
		}
	}
	note := fmt.Sprintf("%d month(s): %d without a run (missing, not zero), %d incomplete", len(t.Periods), missing, incomplete)
	if err := p.line("Months", note); err != nil {
		return err
	}
	p.row++
	head := []any{b.header("Month"), b.header("Status"), b.header("Run ID")}
	for _, c := range curs {
		head = append(head, b.header("Margin "+c))
	}
	if err := p.line(head...); err != nil {
		return err
	}
	headRow := p.row
	for _, per := range t.Periods {
		cells := []any{per.Month, per.Status, per.RunID}
		for _, c := range curs {
			var v any
			for _, tot := range per.Totals {
				if tot.Currency == c {
					m, err := b.margin(tot.Margin, c)
					if err != nil {
						return err
					}
					v = m
				}
			}
			cells = append(cells, v)
		}
		if err := p.line(cells...); err != nil {
			return err
		}
	}
	if len(curs) == 0 || len(t.Periods) == 0 {
		return nil
	}
	first, last := strconv.Itoa(headRow+1), strconv.Itoa(p.row)
	for i, c := range curs {
		col, err := excelize.ColumnNumberToName(4 + i)
		if err != nil {
			return err
		}
		anchor := "A" + strconv.Itoa(p.row+2+i*chartRows) // under the table, as the comparison's
		if i > 0 {
			if err := f.InsertPageBreak(SheetSummary, anchor); err != nil {
				return fmt.Errorf("summary page break: %w", err)
			}
		}
		if err := f.AddChart(SheetSummary, anchor, &excelize.Chart{
			Type: excelize.Line,
			Series: []excelize.ChartSeries{{
				Name:       SheetSummary + "!$" + col + "$" + strconv.Itoa(headRow),
				Categories: SheetSummary + "!$A$" + first + ":$A$" + last,
				Values:     SheetSummary + "!$" + col + "$" + first + ":$" + col + "$" + last,
				Fill:       solidFill(colorTotal),
				Marker:     excelize.ChartMarker{Symbol: "circle", Size: 6},
			}},
			Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Margin per month (" + c + "); gaps are months without a run",
				Font: &excelize.Font{Bold: true, Size: 10, Color: chartFont.Color}}}},
			Legend:       excelize.ChartLegend{Position: "none"},
			XAxis:        excelize.ChartAxis{Font: chartFont},
			YAxis:        excelize.ChartAxis{MajorGridLines: true, Font: chartFont, NumFmt: excelize.ChartNumFmt{CustomNumFmt: moneyFormat(c, false)}},
			Dimension:    excelize.ChartDimension{Width: 720, Height: chartHeight},
			ShowBlanksAs: "gap",
		}); err != nil {
			return fmt.Errorf("line chart %s: %w", c, err)
		}
	}
	return nil
}

func trendPeriods(b *builder, t *report.Trend) error {
	kinds := report.FindingKinds()
	cols := []column{{"Month", 10}, {"Status", 12}, {"Run ID", 10}, {"Currency", 10},
		{"Payable", 18}, {"Receivable", 18}, {"Margin", 18}, {"Margin %", 10}}
	seen := map[string]bool{}
	for _, k := range kinds {
		seen[k] = true
	}
	for _, p := range t.Periods {
		for _, kc := range p.FindingCounts {
			if !seen[kc.Kind] {
				seen[kc.Kind] = true
				kinds = append(kinds, kc.Kind)
			}
		}
	}
	for _, k := range kinds {
		cols = append(cols, column{k, 14})
	}
	tb, err := b.newTable(SheetPeriods, cols)
	if err != nil {
		return err
	}
	for _, p := range t.Periods {
		counts := map[string]int{}
		for _, kc := range p.FindingCounts {
			counts[kc.Kind] = kc.Count
		}
		countCells := func() []cell {
			out := make([]cell, 0, len(kinds))
			for _, k := range kinds {
				if p.Status == report.TrendMissing {
					out = append(out, cell{})
					continue
				}
				out = append(out, b.countCell(int64(counts[k])))
			}
			return out
		}
		if len(p.Totals) == 0 {
			tb.row = append(tb.row[:0], textCell(p.Month), textCell(p.Status), textCell(p.RunID),
				cell{}, cell{}, cell{}, cell{}, cell{})
			tb.row = append(tb.row, countCells()...)
			if err := tb.add(); err != nil {
				return err
			}
			continue
		}
		for _, tot := range p.Totals {
			var ec errCollector
			tb.row = append(tb.row[:0], textCell(p.Month), textCell(p.Status), textCell(p.RunID), textCell(tot.Currency))
			tb.row = b.appendMargin(tb.row, &ec, tot.Payable, tot.Receivable, tot.Margin, tot.Currency)
			tb.row = append(tb.row, countCells()...)
			if ec.err != nil {
				return ec.err
			}
			if err := tb.add(); err != nil {
				return err
			}
		}
	}
	return tb.finish()
}

func trendCustomers(b *builder, t *report.Trend) error {
	cols := []column{{"Customer ID", 38}, {"Customer", 32}, {"Currency", 10}}
	for _, p := range t.Periods {
		cols = append(cols, column{p.Month, 14})
	}
	tb, err := b.newTable(SheetCustomers, cols)
	if err != nil {
		return err
	}
	for _, c := range t.Customers {
		by := map[string]int{}
		for i, m := range c.Margins {
			by[m.Month] = i
		}
		var ec errCollector
		tb.row = append(tb.row[:0], textCell(c.CustomerID), textCell(c.CustomerName), textCell(c.Currency))
		for _, p := range t.Periods {
			i, ok := by[p.Month]
			if !ok {
				tb.row = append(tb.row, cell{})
				continue
			}
			tb.row = append(tb.row, ec.c(b.marginCell(c.Margins[i].Margin, c.Currency)))
		}
		if ec.err != nil {
			return ec.err
		}
		if err := tb.add(); err != nil {
			return err
		}
	}
	return tb.finish()
}
