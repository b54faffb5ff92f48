package xlsx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/xuri/excelize/v2"
)

// The Summary page (reconciliation rules v1.1, "The Summary page"): a page
// for a person, printed landscape on one page.
//
//	row 1      title
//	row 2      period, run id, when, tool version
//	row 3      COMPLETE / INCOMPLETE banner with the reason in words
//	           Totals per currency  (Currency | Customers | Findings | Payable | Receivable | Margin | Margin %)
//	           with the chart (one series per currency) beside it in column H
//	           Findings             (Finding | Currency | Count | Payable | Receivable | Difference), per kind × currency
//	           Largest findings     (top 10 by absolute difference, with customer names)
//	           Coverage             (customers, receivables fetched / missing, the missing customers)
//	           About this run       (lines, tolerance, detail files, run facts)
//
// Every amount is a number cell with its currency's number format.
var summaryColumns = []column{
	{"A", 50}, {"B", 11}, {"C", 10}, {"D", 17}, {"E", 17}, {"F", 17}, {"G", 10}, {"H", 50},
}

// Summary columns, 1-based.
const (
	sumA = iota + 1 // labels
	sumB            // currency
	sumC            // counts
	sumD            // payable
	sumE            // receivable
	sumF            // margin / difference
	sumG            // margin %
	sumH            // customer / notes; the chart
)

// summaryTitle is the Summary sheet's title (and the page header's).
const summaryTitle = "Sherweb reconciliation"

// Section headings of the Summary page.
const (
	headingTotals   = "Totals per currency"
	headingFindings = "Findings"
	headingLargest  = "Largest findings"
	headingCoverage = "Coverage"
	headingAbout    = "About this run"
	headingStatus   = "Finding status"
	headingInternal = "Internal use"
	headingMapping  = "Mapping warnings"
)

// summaryTopN is how many findings the "Largest findings" list shows, and
// summaryMissingN how many missing customers the Coverage section names.
const (
	summaryTopN     = 10
	summaryMissingN = 10
	summaryTextMax  = 72 // characters of a customer text in column H
)

// Banner texts.
const bannerComplete = "COMPLETE"

// bannerText is the banner: COMPLETE or INCOMPLETE, with the reason in words.
func bannerText(res *report.Result) string {
	if res.Complete {
		return bannerComplete + " — receivables of all " + strconv.Itoa(res.Coverage.Customers) +
			" customer(s) fetched for the period; these totals and findings are final."
	}
	var failed, differs int
	for _, m := range res.Coverage.Missing {
		if m.Reason == billing.CoverageFetchFailed {
			failed++
		} else {
			differs++
		}
	}
	if failed == 0 {
		// Only the payable fetch can make a run without failed customers incomplete.
		return "INCOMPLETE — the payable charges were not fetched completely; totals and findings are partial."
	}
	var why []string
	why = append(why, strconv.Itoa(failed)+" could not be fetched")
	if differs > 0 {
		why = append(why, strconv.Itoa(differs)+" returned another period")
	}
	return "INCOMPLETE — receivables missing for " + strconv.Itoa(len(res.Coverage.Missing)) + " customer(s) (" +
		strings.Join(why, ", ") + "): their receivables are left out of the totals and their lines are not checked; run again to complete."
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
	case nil:
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
	for col := sumA; col <= sumH; col++ {
		if err := s.set(col, cells[col]); err != nil {
			return err
		}
	}
	return nil
}

// heading writes an empty row and a section heading across columns A–G
// (A–H when wide).
func (s *summarySheet) heading(text string, wide bool) error {
	s.row++
	last := sumG
	if wide {
		last = sumH
	}
	cells := map[int]any{}
	for c := sumA; c <= last; c++ {
		cells[c] = excelize.Cell{StyleID: s.b.st.heading}
	}
	cells[sumA] = excelize.Cell{StyleID: s.b.st.heading, Value: text}
	return s.line(cells)
}

// header writes a table header row.
func (s *summarySheet) header(names map[int]string) error {
	cells := map[int]any{}
	for c, n := range names {
		cells[c] = excelize.Cell{StyleID: s.b.st.header, Value: n}
	}
	return s.line(cells)
}

// merge merges columns from–to of the current row.
func (s *summarySheet) merge(from, to int) error {
	a, _ := excelize.CoordinatesToCellName(from, s.row)
	z, _ := excelize.CoordinatesToCellName(to, s.row)
	return s.b.f.MergeCell(SheetSummary, a, z)
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
	if err := f.SetSheetView(SheetSummary, -1, &excelize.ViewOptions{ShowGridLines: ptr(false)}); err != nil {
		return err
	}
	if err := f.SetSheetProps(SheetSummary, &excelize.SheetPropsOptions{FitToPage: ptr(true)}); err != nil {
		return err
	}
	s := &summarySheet{b: b}
	if err := b.summaryTitle(s); err != nil {
		return fmt.Errorf("title: %w", err)
	}
	totalsHeader, totalsFirst, err := b.summaryTotals(s)
	if err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	if err := b.summaryFindings(s); err != nil {
		return fmt.Errorf("findings: %w", err)
	}
	chartEnd := s.row
	if err := b.summaryLargest(s); err != nil {
		return fmt.Errorf("largest findings: %w", err)
	}
	if err := b.summaryCoverage(s); err != nil {
		return fmt.Errorf("coverage: %w", err)
	}
	if err := b.summaryWorkflow(s); err != nil {
		return fmt.Errorf("finding status: %w", err)
	}
	if err := b.summaryAbout(s); err != nil {
		return fmt.Errorf("about: %w", err)
	}
	if err := b.printSetup(SheetSummary, 1); err != nil {
		return err
	}
	return b.summaryChart(totalsHeader, totalsFirst, chartEnd)
}

func (b *builder) summaryTitle(s *summarySheet) error {
	res := b.res
	if err := s.line(map[int]any{sumA: excelize.Cell{StyleID: b.st.title, Value: summaryTitle}}); err != nil {
		return err
	}
	if err := b.f.SetRowHeight(SheetSummary, s.row, 30); err != nil {
		return err
	}
	// Period, then the run's facts as label/value pairs. The "Run ID" label
	// leads the volatile part of the row (run id, fetch time, version).
	sub := func(v string) any { return excelize.Cell{StyleID: b.st.subtitle, Value: v} }
	lbl := func(v string) any { return excelize.Cell{StyleID: b.st.factLabel, Value: v} }
	if err := s.line(map[int]any{
		sumA: excelize.Cell{StyleID: b.st.label, Value: b.periodText()},
		sumB: lbl("Run ID"), sumC: sub(b.runID()),
		sumD: lbl("Fetched"), sumE: sub(b.info.FinishedAt),
		sumG: lbl("Version"), sumH: sub(nonEmpty(b.info.ToolVersion, "unknown")),
	}); err != nil {
		return err
	}
	if err := s.merge(sumE, sumF); err != nil {
		return err
	}
	style := b.st.good
	if !res.Complete {
		style = b.st.bad
	}
	cells := map[int]any{}
	for c := sumA; c <= sumH; c++ {
		cells[c] = excelize.Cell{StyleID: style}
	}
	cells[sumA] = excelize.Cell{StyleID: style, Value: bannerText(res)}
	if err := s.line(cells); err != nil {
		return err
	}
	if err := s.merge(sumA, sumH); err != nil {
		return err
	}
	return b.f.SetRowHeight(SheetSummary, s.row, 34)
}

// summaryTotals writes the totals per currency; it returns the header row
// and the first data row, for the chart.
func (b *builder) summaryTotals(s *summarySheet) (header, first int, err error) {
	res := b.res
	if err := s.heading(headingTotals, false); err != nil {
		return 0, 0, err
	}
	if err := s.header(map[int]string{sumA: "Currency", sumB: "Customers", sumC: "Findings",
		sumD: "Payable", sumE: "Receivable", sumF: "Margin", sumG: "Margin %"}); err != nil {
		return 0, 0, err
	}
	header, first = s.row, s.row+1
	customers, findings := map[string]int{}, map[string]int{}
	for _, c := range res.Customers {
		customers[c.Currency]++
	}
	for _, m := range res.Mismatches {
		findings[m.Currency]++
	}
	var ec errCollector
	for _, t := range res.Totals {
		if err := s.line(map[int]any{
			sumA: excelize.Cell{StyleID: b.st.label, Value: t.Currency},
			sumB: b.count(customers[t.Currency]), sumC: b.count(findings[t.Currency]),
			sumD: ec.cell(b.money(t.Payable, t.Currency)),
			sumE: ec.cell(b.money(t.Receivable, t.Currency)),
			sumF: ec.cell(b.margin(t.Margin, t.Currency)),
			sumG: b.percent(t.Margin, t.Receivable),
		}); err != nil {
			return 0, 0, err
		}
	}
	if len(res.Totals) == 0 {
		if err := s.line(map[int]any{sumA: excelize.Cell{StyleID: b.st.note, Value: "No charge lines in this period."}}); err != nil {
			return 0, 0, err
		}
	}
	return header, first, ec.err
}

func (b *builder) summaryFindings(s *summarySheet) error {
	if err := s.heading(headingFindings, false); err != nil {
		return err
	}
	if err := s.header(map[int]string{sumA: "Finding", sumB: "Currency", sumC: "Count",
		sumD: "Payable", sumE: "Receivable", sumF: "Difference"}); err != nil {
		return err
	}
	var ec errCollector
	for _, k := range b.res.FindingSummary() {
		if len(k.ByCurrency) == 0 {
			if err := s.line(map[int]any{sumA: k.Label, sumC: b.count(0)}); err != nil {
				return err
			}
			continue
		}
		for _, a := range k.ByCurrency {
			if err := s.line(map[int]any{
				sumA: k.Label, sumB: a.Currency, sumC: b.count(a.Count),
				sumD: ec.cell(b.money(a.Payable, a.Currency)),
				sumE: ec.cell(b.money(a.Receivable, a.Currency)),
				sumF: ec.cell(b.money(a.Difference, a.Currency)),
			}); err != nil {
				return err
			}
		}
	}
	return ec.err
}

// findingWho is the customer of a finding as the Summary shows it: the name
// (or id), or for an unattributed line the reason and the tags that failed
// to match (the charge id and invoice are on the Mismatches sheet).
func findingWho(f *report.Finding, names map[string]string) string {
	if f.CustomerID != "" {
		return nonEmpty(nonEmpty(f.CustomerName, names[f.CustomerID]), f.CustomerID)
	}
	who := "no customer"
	if f.Kind == report.KindUnattributed && f.Reason != "" {
		who += " (" + f.Reason + ")"
	}
	if f.Tags != "" {
		who += ": " + f.Tags
	}
	return who
}

// clip shortens s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (b *builder) summaryLargest(s *summarySheet) error {
	top := b.res.LargestFindings(summaryTopN)
	if err := s.heading(headingLargest+" (by absolute difference; currencies not converted)", true); err != nil {
		return err
	}
	if len(top) == 0 {
		return s.line(map[int]any{sumA: excelize.Cell{StyleID: b.st.note, Value: "No findings."}})
	}
	if err := s.header(map[int]string{sumA: "Finding", sumB: "Currency",
		sumD: "Payable", sumE: "Receivable", sumF: "Difference", sumH: "Customer · SKU"}); err != nil {
		return err
	}
	var ec errCollector
	for i := range top {
		f := &top[i]
		if err := s.line(map[int]any{
			sumA: report.KindLabel(f.Kind), sumB: f.Currency,
			sumD: ec.cell(b.money(f.PayableAmount, f.Currency)),
			sumE: ec.cell(b.money(f.ReceivableAmount, f.Currency)),
			sumF: ec.cell(b.money(f.Difference(), f.Currency)),
			sumH: clip(findingWho(f, b.names)+" · "+nonEmpty(f.SKU, "no SKU"), summaryTextMax),
		}); err != nil {
			return err
		}
	}
	return ec.err
}

func (b *builder) summaryCoverage(s *summarySheet) error {
	res := b.res
	if err := s.heading(headingCoverage, true); err != nil {
		return err
	}
	rows := []map[int]any{
		{sumA: "Customers", sumC: b.count(res.Coverage.Customers)},
		{sumA: "Receivables fetched", sumC: b.count(res.Coverage.Available)},
		{sumA: "Receivables missing", sumC: b.count(len(res.Coverage.Missing))},
	}
	for i, m := range res.Coverage.Missing {
		if i == summaryMissingN {
			rows = append(rows, map[int]any{sumA: excelize.Cell{StyleID: b.st.note, Value: fmt.Sprintf(
				"… and %d more: see the Mismatches sheet (missing_receivables) and the Run sheet", len(res.Coverage.Missing)-i)}})
			break
		}
		name := b.names[m.CustomerID]
		who := m.CustomerID
		if name != "" {
			who = name + " (" + m.CustomerID + ")"
		}
		note := string(m.Reason)
		if m.Error != "" {
			note += ": " + m.Error
		}
		rows = append(rows, map[int]any{
			sumA: "    " + who,
			sumH: excelize.Cell{StyleID: b.st.note, Value: note},
		})
	}
	for _, r := range rows {
		if err := s.line(r); err != nil {
			return err
		}
	}
	return nil
}

// summaryWorkflow is the close workflow's part of the page: findings per
// status (open, accepted, reopened: the exceptions register), the internal
// use lines and the mapping warnings (the latter two only when there are
// any).
func (b *builder) summaryWorkflow(s *summarySheet) error {
	res := b.res
	var ec errCollector
	if err := s.heading(headingStatus, true); err != nil {
		return err
	}
	if err := s.header(map[int]string{sumA: "Status", sumB: "Currency", sumC: "Count", sumF: "Difference"}); err != nil {
		return err
	}
	for _, sc := range res.StatusCounts() {
		if len(sc.Sums) == 0 {
			if err := s.line(map[int]any{sumA: sc.Status, sumC: b.count(0)}); err != nil {
				return err
			}
			continue
		}
		for _, a := range sc.Sums {
			if err := s.line(map[int]any{
				sumA: sc.Status, sumB: a.Currency, sumC: b.count(a.Count),
				sumF: ec.cell(b.money(a.Amount, a.Currency)),
			}); err != nil {
				return err
			}
		}
	}
	if len(res.InternalUse) > 0 {
		if err := s.heading(headingInternal, true); err != nil {
			return err
		}
		for _, a := range res.InternalUse {
			if err := s.line(map[int]any{
				sumA: "Internal use (the MSP's own licences)", sumB: a.Currency, sumC: b.count(a.Count),
				sumD: ec.cell(b.money(a.Amount, a.Currency)),
				sumH: excelize.Cell{StyleID: b.st.note, Value: "in the payable total, in no customer row, never a finding"},
			}); err != nil {
				return err
			}
		}
	}
	if len(res.MappingWarnings) > 0 {
		if err := s.heading(headingMapping, true); err != nil {
			return err
		}
		for _, w := range res.MappingWarnings {
			note := w.Entry + " " + w.Tag + " = " + strconv.Quote(w.Value)
			if w.CustomerID != "" {
				note += " -> customer " + w.CustomerID
			}
			if w.Line > 0 {
				note += " (configuration line " + strconv.Itoa(w.Line) + ")"
			}
			if err := s.line(map[int]any{sumA: w.Problem, sumH: excelize.Cell{StyleID: b.st.note, Value: note}}); err != nil {
				return err
			}
		}
	}
	return ec.err
}

func (b *builder) summaryAbout(s *summarySheet) error {
	res := b.res
	if err := s.heading(headingAbout, true); err != nil {
		return err
	}
	rows := []map[int]any{
		{sumA: "Payable lines", sumC: b.count(res.PayableLines)},
		{sumA: "Receivable lines", sumC: b.count(res.ReceivableLines)},
		{sumA: "Negative margin tolerance", sumC: b.qty(res.Tolerance)},
	}
	if b.opts.Detail == DetailCSV {
		for _, d := range []struct{ label, file string }{
			{"Payable detail", b.opts.csvPayable},
			{"Receivable detail", b.opts.csvReceivable},
		} {
			rows = append(rows, map[int]any{
				sumA: d.label, sumB: excelize.Cell{StyleID: b.st.note, Value: "CSV file beside this workbook (--detail csv):"},
				sumH: nonEmpty(d.file, "CSV file"),
			})
		}
	}
	rows = append(rows, map[int]any{sumA: excelize.Cell{StyleID: b.st.note, Value: "Detail: Customers, Products, Mismatches, Invoices (tie-out to Sherweb invoices) and Run sheets; amounts are exact in the JSON summary."}})
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

// chartFont is the dark text of the chart.
var chartFont = excelize.Font{Color: "262626", Size: 9}

// summaryChart draws the totals as a clustered bar chart beside them: the
// categories are Payable, Receivable and Margin (the totals header), one
// series per currency (its totals row). It spans the rows of the totals and
// findings sections in column H. No totals, no chart.
func (b *builder) summaryChart(header, first, end int) error {
	n := len(b.res.Totals)
	if n == 0 {
		return nil
	}
	h := strconv.Itoa(header)
	var series []excelize.ChartSeries
	for i := range b.res.Totals {
		r := strconv.Itoa(first + i)
		series = append(series, excelize.ChartSeries{
			Name:       SheetSummary + "!$A$" + r,
			Categories: SheetSummary + "!$D$" + h + ":$F$" + h,
			Values:     SheetSummary + "!$D$" + r + ":$F$" + r,
		})
	}
	rows := end - header + 2
	height := uint(max(rows, 12)*20 - 24)
	title := "Totals per currency (not converted)"
	return b.f.AddChart(SheetSummary, "H"+strconv.Itoa(header-1), &excelize.Chart{
		Type:   excelize.Col,
		Series: series,
		Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title,
			Font: &excelize.Font{Bold: true, Size: 10, Color: "262626"}}}},
		Legend:    excelize.ChartLegend{Position: "bottom", Font: &chartFont},
		XAxis:     excelize.ChartAxis{Font: chartFont},
		YAxis:     excelize.ChartAxis{MajorGridLines: true, Font: chartFont, NumFmt: excelize.ChartNumFmt{CustomNumFmt: "#,##0"}},
		Dimension: excelize.ChartDimension{Width: 400, Height: height},
		Format:    excelize.GraphicOptions{OffsetX: 4, OffsetY: 4},
	})
}
