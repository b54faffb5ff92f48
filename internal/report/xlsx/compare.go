package xlsx

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// The comparison workbook (comparison-rules.md, "Output"): sheets Summary,
// Customers, Products, Findings, Restatements and Run, in this order. The
// table sheets have header row 1 frozen with an auto-filter; money is
// numeric with the currency's number format, ids, names and SKUs are text.
// Summary is a page: both runs, the COMPLETE / INCOMPLETE banner (naming the
// runs and customers at fault), a note when the base run is the newer one,
// the margin bridge per currency as a table, and one waterfall chart per
// currency. Excel's own waterfall chart type is not in excelize, so the
// waterfall is a stacked column chart whose first series (the base the bars
// float on) has no fill; its data sits below the bridge table.

// Sheet names of the comparison workbook that the close workbook has not.
const (
	SheetFindings     = "Findings"
	SheetRestatements = "Restatements"
)

// ComparisonSheets are the comparison workbook's sheets, in order.
var ComparisonSheets = []string{SheetSummary, SheetCustomers, SheetProducts, SheetFindings, SheetRestatements, SheetRun}

// ComparisonInfo is the provenance shown on the comparison's Run sheet.
type ComparisonInfo struct {
	ToolVersion   string
	Base, Current RunInfo     // each run's provenance (id, status, times, …)
	Settings      [][2]string // settings of this comparison, in order
}

// Comparison titles and banner texts.
const (
	comparisonTitle    = "Sherweb period comparison"
	bannerNotCompared  = "INCOMPLETE"
	baseIsNewerNote    = "The base run is newer than the current run: the bridge runs backwards in time, from the base run's margin to the current run's."
	restatementNoteFmt = "Both runs are of the same period: a restatement check. %d restated line key(s), listed on the Restatements sheet."
)

// WriteComparison renders the comparison workbook to path atomically.
func WriteComparison(ctx context.Context, path string, c *report.Comparison, info ComparisonInfo, opts WorkbookOptions) error {
	return writeAtomic(ctx, path, opts, "reconcile-compare", func(b *builder) error { return buildComparison(b, c, info) })
}

// RenderComparison renders the comparison workbook to w.
func RenderComparison(ctx context.Context, w io.Writer, c *report.Comparison, info ComparisonInfo, opts WorkbookOptions) error {
	return renderWith(ctx, w, opts, "reconcile-compare", func(b *builder) error { return buildComparison(b, c, info) })
}

func buildComparison(b *builder, c *report.Comparison, info ComparisonInfo) error {
	if c == nil {
		return fmt.Errorf("no comparison")
	}
	for _, s := range []struct {
		name string
		fn   func() error
	}{
		{SheetSummary, func() error { return compareSummary(b, c) }},
		{SheetCustomers, func() error { return compareCustomers(b, c) }},
		{SheetProducts, func() error { return compareProducts(b, c) }},
		{SheetFindings, func() error { return compareFindings(b, c) }},
		{SheetRestatements, func() error { return compareRestatements(b, c) }},
		{SheetRun, func() error { return b.runTable(comparisonRunRows(c, info)) }},
	} {
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s sheet: %w", strings.ToLower(s.name), err)
		}
	}
	return nil
}

func completeText(ok bool) string {
	if ok {
		return "complete"
	}
	return "incomplete"
}

// comparisonBanner is the Summary banner: COMPLETE, or INCOMPLETE naming the
// runs and the customers at fault.
func comparisonBanner(c *report.Comparison) string {
	if c.Complete {
		return bannerComplete
	}
	parts := make([]string, 0, len(c.Incomplete))
	for _, ic := range c.Incomplete {
		ids := make([]string, 0, len(ic.Customers))
		for _, m := range ic.Customers {
			ids = append(ids, m.CustomerID)
		}
		p := ic.Side + " run " + ic.RunID + " is incomplete"
		if len(ids) > 0 {
			p += " (receivables failed for " + strings.Join(ids, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return bannerNotCompared + " — " + strings.Join(parts, "; ") + ": the coverage bucket holds their customers' change"
}

func compareSummary(b *builder, c *report.Comparison) error {
	f := b.f
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return err
	}
	// Column A: labels; B..L: the bridge table (currency + 10 amounts).
	if err := b.setWidths(SheetSummary, 18, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16); err != nil {
		return err
	}
	p := &page{b: b, sheet: SheetSummary}
	bannerStyle := b.st.good
	if !c.Complete {
		bannerStyle = b.st.bad
	}
	if err := p.line(excelize.Cell{StyleID: b.st.title, Value: comparisonTitle}); err != nil {
		return err
	}
	if err := p.line(b.header("Run"), b.header("Run ID"), b.header("Period From"), b.header("Period To"), b.header("Status")); err != nil {
		return err
	}
	for _, r := range []struct {
		name string
		run  report.ComparedRun
	}{{"Base", c.Base}, {"Current", c.Current}} {
		if err := p.line(r.name, r.run.RunID, string(r.run.Period.From), string(r.run.Period.To), completeText(r.run.Complete)); err != nil {
			return err
		}
	}
	banner := []any{excelize.Cell{StyleID: bannerStyle, Value: "Status"}, excelize.Cell{StyleID: bannerStyle, Value: comparisonBanner(c)}}
	for i := 0; i < 10; i++ {
		banner = append(banner, excelize.Cell{StyleID: bannerStyle})
	}
	if err := p.line(banner...); err != nil {
		return err
	}
	// The banner's text spans the bridge table's width (B..L) instead of
	// running over the cells beside it.
	if err := f.MergeCell(SheetSummary, fmt.Sprintf("B%d", p.row), fmt.Sprintf("L%d", p.row)); err != nil {
		return err
	}
	if c.BaseIsNewer {
		if err := p.line("Direction", baseIsNewerNote); err != nil {
			return err
		}
	}
	if c.SamePeriod {
		if err := p.line("Restatements", fmt.Sprintf(restatementNoteFmt, len(c.Restatements))); err != nil {
			return err
		}
	}
	if err := p.line("Tolerance", b.qty(c.Tolerance)); err != nil {
		return err
	}
	if err := compareCounts(b, p, c); err != nil {
		return err
	}

	// The bridge table.
	p.row++
	if err := p.line(excelize.Cell{StyleID: b.st.title, Value: "Margin bridge"}); err != nil {
		return err
	}
	head := []any{b.header("Currency"), b.header("Start margin")}
	for _, s := range report.BridgeSteps {
		head = append(head, b.header(s.Label))
	}
	head = append(head, b.header("End margin"))
	if err := p.line(head...); err != nil {
		return err
	}
	for i := range c.Bridge {
		r := &c.Bridge[i]
		var ec errCollector
		cells := []any{r.Currency, ec.cell(b.margin(r.StartMargin, r.Currency))}
		for _, s := range report.BridgeSteps {
			cells = append(cells, ec.cell(b.margin(s.Get(r), r.Currency)))
		}
		cells = append(cells, ec.cell(b.margin(r.EndMargin, r.Currency)))
		if ec.err != nil {
			return ec.err
		}
		if err := p.line(cells...); err != nil {
			return err
		}
	}
	if len(c.Bridge) == 0 {
		if err := p.line("", "No amounts in either run."); err != nil {
			return err
		}
	}
	return compareWaterfalls(b, p, c)
}

// compareCounts writes the customer and finding status counts.
func compareCounts(b *builder, p *page, c *report.Comparison) error {
	cust := map[string]int{}
	for _, m := range c.Customers {
		cust[m.Status]++
	}
	find := map[string]int{}
	for _, m := range c.Findings {
		find[m.Status]++
	}
	p.row++
	if err := p.line(b.header("Customers"), b.header("Continuing"), b.header("New"), b.header("Lost"), b.header("Coverage")); err != nil {
		return err
	}
	if err := p.line("customer × currency", b.count(cust[report.StatusContinuing]), b.count(cust[report.StatusNew]),
		b.count(cust[report.StatusLost]), b.count(cust[report.StatusCoverage])); err != nil {
		return err
	}
	if err := p.line(b.header("Findings"), b.header("New"), b.header("Resolved"), b.header("Persisting")); err != nil {
		return err
	}
	return p.line("fingerprints", b.count(find[report.MovementNew]), b.count(find[report.MovementResolved]), b.count(find[report.MovementPersisting]))
}

// Waterfall data columns (below the bridge table): Step, Amount, then the
// chart's series: Base (no fill), Total, Increase (above / below zero),
// Decrease (above / below zero).
var waterfallColumns = []string{"Step", "Amount", "Base", "Total", "Increase", "Increase below 0", "Decrease", "Decrease below 0"}

// waterfallBar is one column of a waterfall: the series values (floats: the
// chart's geometry, derived from the exact amounts in column Amount).
type waterfallBar struct {
	base, total, incUp, incDown, decUp, decDown float64
}

// waterfallBars lays out the bars of one currency's bridge: start, the eight
// buckets, end. A step from running total a to a+d floats on an invisible
// base: above zero its bar stacks up from the base, below zero down from it,
// and a step that crosses zero is split in a part above and one below.
func waterfallBars(r *report.BridgeRow) []waterfallBar {
	bars := []waterfallBar{{total: num(r.StartMargin)}}
	run := r.StartMargin
	for _, s := range report.BridgeSteps {
		d := s.Get(r)
		next := run.Add(d)
		lo, hi := decimal.Min(run, next), decimal.Max(run, next)
		var bar waterfallBar
		up, down := 0.0, 0.0
		switch {
		case lo.Sign() >= 0:
			bar.base, up = num(lo), num(hi.Sub(lo))
		case hi.Sign() <= 0:
			bar.base, down = num(hi), num(lo.Sub(hi))
		default:
			up, down = num(hi), num(lo)
		}
		if d.Sign() >= 0 {
			bar.incUp, bar.incDown = up, down
		} else {
			bar.decUp, bar.decDown = up, down
		}
		bars = append(bars, bar)
		run = next
	}
	return append(bars, waterfallBar{total: num(r.EndMargin)})
}

// Waterfall colours.
const (
	colorTotal    = "4472C4"
	colorIncrease = "70AD47"
	colorDecrease = "C00000"
)

// Summary charts are stacked under the tables, one per slot of chartRows
// rows (a 360 px chart over rows of 15 pt, or of LibreOffice's 12.8 pt), so
// the Summary prints one page wide at a readable size; a slot this short
// keeps the tables and the first chart on one printed page, up to the page
// break before the next chart.
const (
	chartRows   = 22
	chartHeight = 360
)

// compareWaterfalls writes one waterfall chart per currency under the tables
// above it, then the data each chart draws. Printed, each chart after the
// first starts a page, and so does the data.
func compareWaterfalls(b *builder, p *page, c *report.Comparison) error {
	chartRow := p.row + 2
	p.row += len(c.Bridge) * chartRows
	for i := 1; i <= len(c.Bridge); i++ {
		if err := b.f.InsertPageBreak(SheetSummary, "A"+strconv.Itoa(chartRow+i*chartRows)); err != nil {
			return fmt.Errorf("summary page break: %w", err)
		}
	}
	for i := range c.Bridge {
		r := &c.Bridge[i]
		p.row++
		if err := p.line(excelize.Cell{StyleID: b.st.title, Value: "Waterfall data " + r.Currency}); err != nil {
			return err
		}
		head := make([]any, len(waterfallColumns))
		for j, h := range waterfallColumns {
			head[j] = b.header(h)
		}
		if err := p.line(head...); err != nil {
			return err
		}
		first := p.row + 1
		amounts := []decimal.Decimal{r.StartMargin}
		labels := []string{"Start margin"}
		for _, s := range report.BridgeSteps {
			amounts = append(amounts, s.Get(r))
			labels = append(labels, s.Label)
		}
		amounts = append(amounts, r.EndMargin)
		labels = append(labels, "End margin")
		style, err := b.st.money(r.Currency, moneyPlain)
		if err != nil {
			return err
		}
		cell := func(v float64) excelize.Cell { return excelize.Cell{StyleID: style, Value: v} }
		for j, bar := range waterfallBars(r) {
			m, err := b.money(amounts[j], r.Currency)
			if err != nil {
				return err
			}
			if err := p.line(labels[j], m, cell(bar.base), cell(bar.total), cell(bar.incUp),
				cell(bar.incDown), cell(bar.decUp), cell(bar.decDown)); err != nil {
				return err
			}
		}
		last := p.row
		ref := func(col string) string {
			return SheetSummary + "!$" + col + "$" + strconv.Itoa(first) + ":$" + col + "$" + strconv.Itoa(last)
		}
		cats := ref("A")
		series := []excelize.ChartSeries{
			{Name: SheetSummary + "!$C$" + strconv.Itoa(first-1), Categories: cats, Values: ref("C"), Fill: excelize.Fill{Type: "pattern", Pattern: 0}},
			{Name: SheetSummary + "!$D$" + strconv.Itoa(first-1), Categories: cats, Values: ref("D"), Fill: solidFill(colorTotal)},
			{Name: SheetSummary + "!$E$" + strconv.Itoa(first-1), Categories: cats, Values: ref("E"), Fill: solidFill(colorIncrease)},
			{Name: SheetSummary + "!$F$" + strconv.Itoa(first-1), Categories: cats, Values: ref("F"), Fill: solidFill(colorIncrease)},
			{Name: SheetSummary + "!$G$" + strconv.Itoa(first-1), Categories: cats, Values: ref("G"), Fill: solidFill(colorDecrease)},
			{Name: SheetSummary + "!$H$" + strconv.Itoa(first-1), Categories: cats, Values: ref("H"), Fill: solidFill(colorDecrease)},
		}
		title := fmt.Sprintf("Margin bridge %s: %s → %s (green up, red down)", r.Currency, periodText(c.Base), periodText(c.Current))
		format := moneyFormat(r.Currency, false)
		anchor := "A" + strconv.Itoa(chartRow+i*chartRows)
		if err := b.f.AddChart(SheetSummary, anchor, &excelize.Chart{
			Type:   excelize.ColStacked,
			Series: series,
			Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title,
				Font: &excelize.Font{Bold: true, Size: 10, Color: chartFont.Color}}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			XAxis:     excelize.ChartAxis{Font: chartFont},
			YAxis:     excelize.ChartAxis{MajorGridLines: true, Font: chartFont, NumFmt: excelize.ChartNumFmt{CustomNumFmt: format}},
			Dimension: excelize.ChartDimension{Width: 760, Height: chartHeight},
		}); err != nil {
			return fmt.Errorf("waterfall chart %s: %w", r.Currency, err)
		}
	}
	return nil
}

func solidFill(color string) excelize.Fill {
	return excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{color}}
}

func periodText(r report.ComparedRun) string {
	if len(r.Period.From) >= 7 && len(r.Period.To) >= 7 && r.Period.From[:7] == r.Period.To[:7] {
		return string(r.Period.From[:7]) + " (run " + r.RunID + ")"
	}
	return string(r.Period.From) + ".." + string(r.Period.To) + " (run " + r.RunID + ")"
}

func compareCustomers(b *builder, c *report.Comparison) error {
	t, err := b.newTable(SheetCustomers, []column{
		{"Customer ID", 38}, {"Customer", 32}, {"Currency", 10}, {"Status", 12},
		{"Margin Base", 16}, {"Margin Current", 16}, {"Change", 16},
		{"New Products", 16}, {"Lost Products", 16}, {"Volume", 16}, {"Rate", 16},
		{"Payable Base", 16}, {"Payable Current", 16}, {"Receivable Base", 16}, {"Receivable Current", 18},
	})
	if err != nil {
		return err
	}
	for i := range c.Customers {
		m := &c.Customers[i]
		var ec errCollector
		cur := m.Currency
		split := func(d decimal.Decimal) cell {
			if !m.HasSplit {
				return cell{}
			}
			return ec.c(b.marginCell(d, cur))
		}
		t.row = append(t.row[:0], textCell(m.CustomerID), textCell(m.CustomerName), textCell(cur), textCell(m.Status),
			ec.c(b.marginCell(m.MarginBase, cur)), ec.c(b.marginCell(m.MarginCurrent, cur)), ec.c(b.marginCell(m.Change(), cur)),
			split(m.NewProducts), split(m.LostProducts), split(m.Volume), split(m.Rate),
			ec.c(b.moneyCell(m.PayableBase, cur)), ec.c(b.moneyCell(m.PayableCurrent, cur)),
			ec.c(b.moneyCell(m.ReceivableBase, cur)), ec.c(b.moneyCell(m.ReceivableCurrent, cur)),
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

func compareProducts(b *builder, c *report.Comparison) error {
	t, err := b.newTable(SheetProducts, []column{
		{"SKU", 24}, {"Product", 40}, {"Currency", 10},
		{"Payable Qty Base", 16}, {"Payable Qty Current", 18},
		{"Payable Base", 16}, {"Payable Current", 16}, {"Receivable Base", 16}, {"Receivable Current", 18},
		{"Receivable Qty Base", 18}, {"Receivable Qty Current", 20},
	})
	if err != nil {
		return err
	}
	for i := range c.Products {
		m := &c.Products[i]
		var ec errCollector
		cur := m.Currency
		t.row = append(t.row[:0], textCell(m.SKU), textCell(m.Product), textCell(cur),
			b.qtyCell(m.PayableQtyBase), b.qtyCell(m.PayableQtyCurrent),
			ec.c(b.moneyCell(m.PayableBase, cur)), ec.c(b.moneyCell(m.PayableCurrent, cur)),
			ec.c(b.moneyCell(m.ReceivableBase, cur)), ec.c(b.moneyCell(m.ReceivableCurrent, cur)),
			b.qtyCell(m.ReceivableQtyBase), b.qtyCell(m.ReceivableQtyCurrent),
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

func compareFindings(b *builder, c *report.Comparison) error {
	t, err := b.newTable(SheetFindings, []column{
		{"Fingerprint", 18}, {"Status", 12}, {"Kind", 22}, {"Customer ID", 38}, {"Customer", 32},
		{"SKU", 24}, {"Charge Type", 16}, {"Currency", 10}, {"Count Base", 11}, {"Count Current", 13},
		{"Amount Base", 16}, {"Amount Current", 16},
	})
	if err != nil {
		return err
	}
	for i := range c.Findings {
		m := &c.Findings[i]
		var ec errCollector
		cur := m.Key.Currency
		t.row = append(t.row[:0], textCell(m.Fingerprint), textCell(m.Status), textCell(m.Key.Kind),
			textCell(m.Key.CustomerID), textCell(m.CustomerName), textCell(m.Key.SKU), textCell(m.Key.ChargeType),
			textCell(cur), b.countCell(int64(m.CountBase)), b.countCell(int64(m.CountCurrent)),
			ec.c(b.moneyCell(m.AmountBase, cur)), ec.c(b.moneyCell(m.AmountCurrent, cur)),
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

func compareRestatements(b *builder, c *report.Comparison) error {
	t, err := b.newTable(SheetRestatements, []column{
		{"Customer ID", 38}, {"SKU", 24}, {"Charge Type", 16}, {"Period From", 12}, {"Period To", 12}, {"Currency", 10},
		{"Payable Qty Base", 16}, {"Payable Qty Current", 18}, {"Payable Amount Base", 18}, {"Payable Amount Current", 20},
		{"Receivable Qty Base", 18}, {"Receivable Qty Current", 20}, {"Receivable Amount Base", 20}, {"Receivable Amount Current", 22},
		{"In Base", 9}, {"In Current", 10},
	})
	if err != nil {
		return err
	}
	yes := func(v bool) cell {
		if v {
			return textCell("yes")
		}
		return textCell("no")
	}
	for i := range c.Restatements {
		r := &c.Restatements[i]
		var ec errCollector
		cur := r.Currency
		t.row = append(t.row[:0], textCell(r.CustomerID), textCell(r.SKU), textCell(r.ChargeType),
			textCell(string(r.PeriodFrom)), textCell(string(r.PeriodTo)), textCell(cur),
			b.qtyCell(r.PayableQtyBase), b.qtyCell(r.PayableQtyCurrent),
			ec.c(b.moneyCell(r.PayableAmountBase, cur)), ec.c(b.moneyCell(r.PayableAmountCurrent, cur)),
			b.qtyCell(r.ReceivableQtyBase), b.qtyCell(r.ReceivableQtyCurrent),
			ec.c(b.moneyCell(r.ReceivableAmountBase, cur)), ec.c(b.moneyCell(r.ReceivableAmountCurrent, cur)),
			yes(r.InBase), yes(r.InCurrent),
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

func comparisonRunRows(c *report.Comparison, info ComparisonInfo) [][2]string {
	rows := [][2]string{
		{"Base Run ID", c.Base.RunID},
		{"Base Period From", string(c.Base.Period.From)},
		{"Base Period To", string(c.Base.Period.To)},
		{"Base Status", string(info.Base.Status)},
		{"Base Started", info.Base.StartedAt},
		{"Base Finished", info.Base.FinishedAt},
		{"Base Tool Version", info.Base.ToolVersion},
		{"Current Run ID", c.Current.RunID},
		{"Current Period From", string(c.Current.Period.From)},
		{"Current Period To", string(c.Current.Period.To)},
		{"Current Status", string(info.Current.Status)},
		{"Current Started", info.Current.StartedAt},
		{"Current Finished", info.Current.FinishedAt},
		{"Current Tool Version", info.Current.ToolVersion},
		{"Tool Version", info.ToolVersion},
		{"Complete", completeText(c.Complete)},
		{"Same Period", strconv.FormatBool(c.SamePeriod)},
		{"Base Is Newer", strconv.FormatBool(c.BaseIsNewer)},
	}
	return append(rows, info.Settings...)
}
