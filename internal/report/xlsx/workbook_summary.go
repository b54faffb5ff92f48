package xlsx

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// Summary sheet layout: one row per metric under the header
//
//	Section | Metric | Value | Currency | Count | Payable | Receivable | Margin | Margin % | Note
//
// Rows 2–4 are the title, the period and the COMPLETE / INCOMPLETE banner.
// Below the table, after one empty row and outside the auto-filter, is the
// data of the chart (margin by customer), and the chart sits to the right.
var summaryColumns = []column{
	{"Section", 12}, {"Metric", 28}, {"Value", 46}, {"Currency", 10}, {"Count", 10},
	{"Payable", 18}, {"Receivable", 18}, {"Margin", 18}, {"Margin %", 10}, {"Note", 60},
}

// Summary columns, 1-based.
const (
	sumSection = iota + 1
	sumMetric
	sumValue
	sumCurrency
	sumCount
	sumPayable
	sumReceivable
	sumMargin
	sumPercent
	sumNote
)

// Summary sections.
const (
	sectionReport   = "Report"
	sectionCoverage = "Coverage"
	sectionTotals   = "Totals"
	sectionFindings = "Findings"
	sectionStatus   = "Finding status"
	sectionInternal = "Internal use"
	sectionMapping  = "Mapping warnings"
	sectionLines    = "Lines"
	sectionChart    = "Chart data"
)

// chartTopN is how many customers the margin chart shows.
const chartTopN = 15

// summaryTitle is the Summary sheet's title.
const summaryTitle = "Sherweb reconciliation"

// Banner texts.
const bannerComplete = "COMPLETE"

func bannerIncomplete(missing int) string {
	return "INCOMPLETE — receivables missing for " + strconv.Itoa(missing) +
		" customer(s); totals exclude their receivables"
}

// summarySheet writes cells of the Summary sheet with the normal API (it is
// small, and the chart needs a normal sheet).
type summarySheet struct {
	b   *builder
	row int // last written row
}

func (s *summarySheet) set(col int, v any) error {
	if v == nil {
		return nil
	}
	ref, err := excelize.CoordinatesToCellName(col, s.row)
	if err != nil {
		return err
	}
	f := s.b.f
	style := 0
	if c, ok := v.(excelize.Cell); ok {
		style, v = c.StyleID, c.Value
	}
	switch v := v.(type) {
	case string:
		err = f.SetCellStr(SheetSummary, ref, v)
	default:
		err = f.SetCellValue(SheetSummary, ref, v)
	}
	if err != nil {
		return fmt.Errorf("cell %s: %w", ref, err)
	}
	if style != 0 {
		if err := f.SetCellStyle(SheetSummary, ref, ref, style); err != nil {
			return fmt.Errorf("cell %s style: %w", ref, err)
		}
	}
	return nil
}

// line writes the next row; cells maps a column to its value.
func (s *summarySheet) line(cells map[int]any) error {
	s.row++
	for col := sumSection; col <= sumNote; col++ {
		if err := s.set(col, cells[col]); err != nil {
			return err
		}
	}
	return nil
}

// findingAgg sums the findings of one kind and currency.
type findingAgg struct {
	currency                     string
	count                        int
	payable, receivable, balance decimal.Decimal
}

// findingsByKind groups res.Mismatches by kind (the six kinds of the rules
// first, in FindingKinds order, even with no finding; then any other kind by
// name) and currency (sorted).
func findingsByKind(res *report.Result) (kinds []string, aggs map[string][]*findingAgg) {
	kinds = report.FindingKinds()
	aggs = make(map[string][]*findingAgg)
	var extra []string
	for i := range res.Mismatches {
		m := &res.Mismatches[i]
		list, seen := aggs[m.Kind]
		if !seen && !slices.Contains(kinds, m.Kind) && !slices.Contains(extra, m.Kind) {
			extra = append(extra, m.Kind)
		}
		var a *findingAgg
		for _, x := range list {
			if x.currency == m.Currency {
				a = x
				break
			}
		}
		if a == nil {
			a = &findingAgg{currency: m.Currency}
			list = append(list, a)
		}
		a.count++
		a.payable = a.payable.Add(m.PayableAmount)
		a.receivable = a.receivable.Add(m.ReceivableAmount)
		a.balance = a.balance.Add(m.Difference())
		aggs[m.Kind] = list
	}
	for _, list := range aggs {
		slices.SortFunc(list, func(a, b *findingAgg) int { return cmp.Compare(a.currency, b.currency) })
	}
	slices.Sort(extra)
	return append(kinds, extra...), aggs
}

func (b *builder) summary() error {
	f := b.f
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return err
	}
	for i, c := range summaryColumns {
		name, err := excelize.ColumnNumberToName(i + 1)
		if err != nil {
			return err
		}
		if err := f.SetColWidth(SheetSummary, name, name, c.width); err != nil {
			return err
		}
	}
	if err := f.SetPanes(SheetSummary, frozenHeader()); err != nil {
		return err
	}
	s := &summarySheet{b: b}
	header := map[int]any{}
	for i, c := range summaryColumns {
		header[i+1] = excelize.Cell{StyleID: b.st.header, Value: c.name}
	}
	if err := s.line(header); err != nil {
		return err
	}
	if err := b.summaryRows(s); err != nil {
		return err
	}
	last := s.row
	lastCol, _ := excelize.ColumnNumberToName(len(summaryColumns))
	if err := f.AutoFilter(SheetSummary, "A1:"+lastCol+strconv.Itoa(last), nil); err != nil {
		return fmt.Errorf("auto-filter: %w", err)
	}
	return b.summaryChart(s)
}

func (b *builder) summaryRows(s *summarySheet) error {
	res := b.res
	var ec errCollector
	rows := []map[int]any{
		{sumSection: sectionReport, sumMetric: "Title", sumValue: excelize.Cell{StyleID: b.st.title, Value: summaryTitle}},
		{sumSection: sectionReport, sumMetric: "Period", sumValue: string(res.Period.From) + " to " + string(res.Period.To)},
	}
	status := map[int]any{sumSection: sectionReport, sumMetric: "Status"}
	bannerStyle := b.st.good
	banner := bannerComplete
	if !res.Complete {
		bannerStyle = b.st.bad
		banner = bannerIncomplete(len(res.Coverage.Missing))
	}
	status[sumValue] = excelize.Cell{StyleID: bannerStyle, Value: banner}
	for col := sumCurrency; col <= sumNote; col++ { // the banner is a band across the row
		status[col] = excelize.Cell{StyleID: bannerStyle}
	}
	rows = append(rows, status,
		map[int]any{sumSection: sectionReport, sumMetric: "Run ID", sumValue: nonEmpty(res.RunID, b.info.RunID)},
		map[int]any{sumSection: sectionReport, sumMetric: "Negative margin tolerance", sumValue: b.qty(res.Tolerance)},
	)
	if b.opts.Detail == DetailCSV {
		for _, d := range []struct{ metric, file string }{
			{"Payable detail", b.opts.csvPayable},
			{"Receivable detail", b.opts.csvReceivable},
		} {
			rows = append(rows, map[int]any{
				sumSection: sectionReport, sumMetric: d.metric, sumValue: nonEmpty(d.file, "CSV file"),
				sumNote: "CSV file beside this workbook, not a sheet (--detail csv)",
			})
		}
	}
	rows = append(rows,
		map[int]any{sumSection: sectionCoverage, sumMetric: "Customers", sumCount: b.count(res.Coverage.Customers)},
		map[int]any{sumSection: sectionCoverage, sumMetric: "Receivables available", sumCount: b.count(res.Coverage.Available)},
		map[int]any{sumSection: sectionCoverage, sumMetric: "Receivables missing", sumCount: b.count(len(res.Coverage.Missing))},
	)
	for _, m := range res.Coverage.Missing {
		note := string(m.Reason)
		if m.Error != "" {
			note += ": " + m.Error
		}
		if name := b.names[m.CustomerID]; name != "" {
			note = name + " — " + note
		}
		rows = append(rows, map[int]any{
			sumSection: sectionCoverage, sumMetric: "Missing receivables",
			sumValue: m.CustomerID, sumNote: note,
		})
	}
	for _, t := range res.Totals {
		rows = append(rows, map[int]any{
			sumSection: sectionTotals, sumMetric: "Total", sumCurrency: t.Currency,
			sumPayable:    ec.cell(b.money(t.Payable, t.Currency)),
			sumReceivable: ec.cell(b.money(t.Receivable, t.Currency)),
			sumMargin:     ec.cell(b.margin(t.Margin, t.Currency)),
			sumPercent:    b.percent(t.Margin, t.Receivable),
		})
	}
	for _, a := range res.InternalUse {
		rows = append(rows, map[int]any{
			sumSection: sectionInternal, sumMetric: "Internal use", sumCurrency: a.Currency,
			sumCount: b.count(a.Count), sumPayable: ec.cell(b.money(a.Amount, a.Currency)),
			sumNote: "the MSP's own use: in the payable total, in no customer row, never a finding",
		})
	}
	for _, w := range res.MappingWarnings {
		note := w.Problem + ": " + w.Entry + " " + w.Tag + " = " + strconv.Quote(w.Value)
		if w.CustomerID != "" {
			note += " -> customer " + w.CustomerID
		}
		if w.Line > 0 {
			note += " (configuration line " + strconv.Itoa(w.Line) + ")"
		}
		rows = append(rows, map[int]any{sumSection: sectionMapping, sumMetric: "Mapping warning", sumValue: w.Problem, sumNote: note})
	}
	kinds, aggs := findingsByKind(res)
	for _, k := range kinds {
		list := aggs[k]
		if len(list) == 0 {
			rows = append(rows, map[int]any{sumSection: sectionFindings, sumMetric: k, sumCount: b.count(0)})
			continue
		}
		for _, a := range list {
			rows = append(rows, map[int]any{
				sumSection: sectionFindings, sumMetric: k, sumCurrency: a.currency,
				sumCount:      b.count(a.count),
				sumPayable:    ec.cell(b.money(a.payable, a.currency)),
				sumReceivable: ec.cell(b.money(a.receivable, a.currency)),
				sumMargin:     ec.cell(b.money(a.balance, a.currency)),
			})
		}
	}
	for _, sc := range res.StatusCounts() {
		if len(sc.Sums) == 0 {
			rows = append(rows, map[int]any{sumSection: sectionStatus, sumMetric: sc.Status, sumCount: b.count(0)})
			continue
		}
		for _, a := range sc.Sums {
			rows = append(rows, map[int]any{
				sumSection: sectionStatus, sumMetric: sc.Status, sumCurrency: a.Currency,
				sumCount: b.count(a.Count), sumMargin: ec.cell(b.money(a.Amount, a.Currency)),
			})
		}
	}
	rows = append(rows,
		map[int]any{sumSection: sectionLines, sumMetric: "Payable lines", sumCount: b.count(res.PayableLines)},
		map[int]any{sumSection: sectionLines, sumMetric: "Receivable lines", sumCount: b.count(res.ReceivableLines)},
	)
	if ec.err != nil {
		return ec.err
	}
	for _, r := range rows {
		if err := s.line(r); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) count(n int) excelize.Cell {
	return excelize.Cell{StyleID: b.st.count, Value: n}
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// chartCurrency is the currency the margin chart shows: the one with the
// most customer rows (a currency-neutral notion of "largest"), ties by code.
func chartCurrency(rows []report.CustomerRow) string {
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Currency]++
	}
	best, bestN := "", 0
	for cur, n := range counts {
		if n > bestN || n == bestN && cur < best {
			best, bestN = cur, n
		}
	}
	return best
}

// chartCustomers are the rows of currency cur with the largest absolute
// margins, at most chartTopN, largest first (ties by customer id).
func chartCustomers(rows []report.CustomerRow, cur string) []report.CustomerRow {
	var out []report.CustomerRow
	for _, r := range rows {
		if r.Currency == cur {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b report.CustomerRow) int {
		if c := b.Margin.Abs().Cmp(a.Margin.Abs()); c != 0 {
			return c
		}
		return cmp.Compare(a.CustomerID, b.CustomerID)
	})
	if len(out) > chartTopN {
		out = out[:chartTopN]
	}
	return out
}

// summaryChart writes the chart data below the table and a bar chart of
// margin by customer next to it. No customers, no chart.
func (b *builder) summaryChart(s *summarySheet) error {
	cur := chartCurrency(b.res.Customers)
	top := chartCustomers(b.res.Customers, cur)
	if len(top) == 0 {
		return nil
	}
	s.row++ // one empty row
	if err := s.line(map[int]any{
		sumSection:  excelize.Cell{StyleID: b.st.header, Value: sectionChart},
		sumMetric:   excelize.Cell{StyleID: b.st.header, Value: "Customer"},
		sumValue:    excelize.Cell{StyleID: b.st.header, Value: "Customer ID"},
		sumCurrency: excelize.Cell{StyleID: b.st.header, Value: "Currency"},
		sumMargin:   excelize.Cell{StyleID: b.st.header, Value: "Margin"},
	}); err != nil {
		return err
	}
	headerRow := s.row
	labels := map[string]int{}
	for _, r := range top {
		labels[r.CustomerName]++
	}
	for _, r := range top {
		label := r.CustomerName
		if label == "" {
			label = r.CustomerID
		} else if labels[label] > 1 {
			label += " (" + r.CustomerID + ")"
		}
		m, err := b.margin(r.Margin, r.Currency)
		if err != nil {
			return err
		}
		if err := s.line(map[int]any{
			sumSection: sectionChart, sumMetric: label, sumValue: r.CustomerID,
			sumCurrency: r.Currency, sumMargin: m,
		}); err != nil {
			return err
		}
	}
	first, last := strconv.Itoa(headerRow+1), strconv.Itoa(s.row)
	title := "Margin by customer"
	if cur != "" {
		title += " (" + cur + ")"
	}
	title += fmt.Sprintf(": top %d by absolute margin", len(top))
	vary := false
	return b.f.AddChart(SheetSummary, "L2", &excelize.Chart{
		Type: excelize.Bar,
		Series: []excelize.ChartSeries{{
			Name:       SheetSummary + "!$H$" + strconv.Itoa(headerRow),
			Categories: SheetSummary + "!$B$" + first + ":$B$" + last,
			Values:     SheetSummary + "!$H$" + first + ":$H$" + last,
		}},
		Title:      excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title}}},
		Legend:     excelize.ChartLegend{Position: "none"},
		VaryColors: &vary,
		XAxis:      excelize.ChartAxis{ReverseOrder: true},
		YAxis:      excelize.ChartAxis{MajorGridLines: true},
		Dimension:  excelize.ChartDimension{Width: 720, Height: 420},
	})
}
