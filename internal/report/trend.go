package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Trend period statuses (comparison-rules.md, "Trend").
const (
	TrendComplete   = "complete"
	TrendIncomplete = "incomplete"
	TrendMissing    = "missing"
)

// maxTrendMonths bounds a trend's range (100 years).
const maxTrendMonths = 1200

// Trend is the month-by-month view of `reconcile trend`: one entry per month
// of the range, a month without a run listed as missing (never as zero).
type Trend struct {
	From, To  string // YYYY-MM
	Periods   []TrendPeriod
	Customers []TrendCustomer // by customer id, currency
}

// TrendPeriod is one month of a trend.
type TrendPeriod struct {
	Month  string          // YYYY-MM
	Status string          // TrendComplete, TrendIncomplete or TrendMissing
	RunID  string          // "" when missing
	Totals []CurrencyTotal // the month's rules v1 totals; empty when missing
	// FindingCounts is the count per kind: the six kinds of the rules always
	// (zero included) and any extra kind present; empty when missing.
	FindingCounts []KindCount
}

// TrendCustomer is one customer × currency's margin over the months where it
// has a rules v1 customer row (months without a row, or missing months, have
// no entry).
type TrendCustomer struct {
	CustomerID   string
	CustomerName string // from the latest month with a row
	Currency     string
	Margins      []TrendMargin // by month
}

// TrendMargin is a customer's margin in one month.
type TrendMargin struct {
	Month  string
	Margin decimal.Decimal
}

// ParseMonth parses "YYYY-MM".
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return time.Time{}, fmt.Errorf("invalid month %q (want YYYY-MM)", s)
	}
	return t, nil
}

// ComputeTrend builds the trend of the months from..to (YYYY-MM, inclusive)
// from the runs picked for them (one Result per month at most, the run
// `report` would pick; its month is the month of Period.From). Months without
// a Result are missing. A Result outside the range, or two for one month, is
// an error.
func ComputeTrend(from, to string, runs []Result) (Trend, error) {
	f, err := ParseMonth(from)
	if err != nil {
		return Trend{}, fmt.Errorf("trend --from: %w", err)
	}
	t, err := ParseMonth(to)
	if err != nil {
		return Trend{}, fmt.Errorf("trend --to: %w", err)
	}
	if t.Before(f) {
		return Trend{}, fmt.Errorf("trend: --to %s is before --from %s", to, from)
	}
	n := (t.Year()-f.Year())*12 + int(t.Month()) - int(f.Month()) + 1
	if n > maxTrendMonths {
		return Trend{}, fmt.Errorf("trend: %d months from %s to %s, at most %d", n, from, to, maxTrendMonths)
	}
	byMonth := map[string]*Result{}
	for i := range runs {
		r := &runs[i]
		m := string(r.Period.From)
		if len(m) < 7 {
			return Trend{}, fmt.Errorf("trend: run %s has no period start", r.RunID)
		}
		m = m[:7]
		if m < from || m > to {
			return Trend{}, fmt.Errorf("trend: run %s (month %s) is outside %s..%s", r.RunID, m, from, to)
		}
		if prev, dup := byMonth[m]; dup {
			return Trend{}, fmt.Errorf("trend: runs %s and %s are both for month %s", prev.RunID, r.RunID, m)
		}
		byMonth[m] = r
	}
	out := Trend{From: from, To: to, Periods: make([]TrendPeriod, 0, n), Customers: []TrendCustomer{}}
	custs := map[custCur]*TrendCustomer{}
	for i := 0; i < n; i++ {
		month := f.AddDate(0, i, 0).Format("2006-01")
		r, ok := byMonth[month]
		if !ok {
			out.Periods = append(out.Periods, TrendPeriod{Month: month, Status: TrendMissing,
				Totals: []CurrencyTotal{}, FindingCounts: []KindCount{}})
			continue
		}
		p := TrendPeriod{Month: month, Status: TrendIncomplete, RunID: r.RunID,
			Totals: slices.Clone(r.Totals), FindingCounts: r.FindingCounts()}
		if p.Totals == nil {
			p.Totals = []CurrencyTotal{}
		}
		if r.Complete {
			p.Status = TrendComplete
		}
		out.Periods = append(out.Periods, p)
		for _, row := range r.Customers {
			k := custCur{row.CustomerID, row.Currency}
			tc, ok := custs[k]
			if !ok {
				tc = &TrendCustomer{CustomerID: row.CustomerID, Currency: row.Currency}
				custs[k] = tc
			}
			tc.CustomerName = row.CustomerName // months ascend: the latest wins
			tc.Margins = append(tc.Margins, TrendMargin{Month: month, Margin: row.Margin})
		}
	}
	for _, tc := range custs {
		out.Customers = append(out.Customers, *tc)
	}
	slices.SortFunc(out.Customers, func(a, b TrendCustomer) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Currency, b.Currency))
	})
	return out, nil
}

type jsonTrend struct {
	From      string          `json:"from"`
	To        string          `json:"to"`
	Periods   []jsonTrendPer  `json:"periods"`
	Customers []jsonTrendCust `json:"customers"`
}

type jsonTrendPer struct {
	Month         string           `json:"month"`
	Status        string           `json:"status"`
	RunID         string           `json:"run_id"`
	Totals        []jsonTrendTotal `json:"totals"`
	FindingCounts orderedCounts    `json:"finding_counts"`
}

type jsonTrendTotal struct {
	Currency      string `json:"currency"`
	Payable       string `json:"payable"`
	Receivable    string `json:"receivable"`
	Margin        string `json:"margin"`
	MarginPercent string `json:"margin_percent"` // "" when receivable is zero
}

type jsonTrendCust struct {
	CustomerID   string            `json:"customer_id"`
	CustomerName string            `json:"customer_name"`
	Currency     string            `json:"currency"`
	Margins      []jsonTrendMargin `json:"margins"`
}

type jsonTrendMargin struct {
	Month  string `json:"month"`
	Margin string `json:"margin"`
}

// orderedCounts renders kind counts as a JSON object in their given order.
type orderedCounts []KindCount

func (o orderedCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, kc := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(kc.Kind)
		if err != nil {
			return nil, err
		}
		b = append(b, k...)
		b = append(b, ':')
		b = fmt.Appendf(b, "%d", kc.Count)
	}
	return append(b, '}'), nil
}

// WriteJSON writes the trend JSON of comparison-rules.md: amounts as exact
// decimal strings, arrays never null, finding counts in report order, two-space
// indent, trailing newline; deterministic.
func (t *Trend) WriteJSON(w io.Writer) error {
	s := jsonTrend{From: t.From, To: t.To, Periods: make([]jsonTrendPer, 0, len(t.Periods)),
		Customers: make([]jsonTrendCust, 0, len(t.Customers))}
	for _, p := range t.Periods {
		jp := jsonTrendPer{Month: p.Month, Status: p.Status, RunID: p.RunID,
			Totals: make([]jsonTrendTotal, 0, len(p.Totals)), FindingCounts: orderedCounts(p.FindingCounts)}
		if jp.FindingCounts == nil {
			jp.FindingCounts = orderedCounts{}
		}
		for _, tot := range p.Totals {
			pct := ""
			if v, ok := MarginPercent(tot.Margin, tot.Receivable); ok {
				pct = v.StringFixed(2)
			}
			jp.Totals = append(jp.Totals, jsonTrendTotal{Currency: tot.Currency, Payable: jsonAmount(tot.Payable),
				Receivable: jsonAmount(tot.Receivable), Margin: jsonAmount(tot.Margin), MarginPercent: pct})
		}
		s.Periods = append(s.Periods, jp)
	}
	for _, c := range t.Customers {
		jc := jsonTrendCust{CustomerID: c.CustomerID, CustomerName: c.CustomerName, Currency: c.Currency,
			Margins: make([]jsonTrendMargin, 0, len(c.Margins))}
		for _, m := range c.Margins {
			jc.Margins = append(jc.Margins, jsonTrendMargin{Month: m.Month, Margin: jsonAmount(m.Margin)})
		}
		s.Customers = append(s.Customers, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		return fmt.Errorf("write trend json %s..%s: %w", t.From, t.To, err)
	}
	return nil
}
