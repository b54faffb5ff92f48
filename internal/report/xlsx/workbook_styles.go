package xlsx

import (
	"fmt"
	"slices"
	"sync"

	"github.com/xuri/excelize/v2"
)

// Colours of the workbook (Excel's "good" and "bad" cell styles).
const (
	colorHeaderFill = "D9E1F2"
	colorGoodFill   = "C6EFCE"
	colorGoodFont   = "006100"
	colorBadFill    = "FFC7CE"
	colorBadFont    = "9C0006"
	colorTitleFont  = "1F3864"
	colorNoteFont   = "595959"
)

// moneyVariant selects one of the money styles of a currency.
type moneyVariant int

const (
	moneyPlain    moneyVariant = iota // amounts: 2 decimals
	moneyNegative                     // a negative margin: 2 decimals, red fill
	moneyUnit                         // unit prices: 2 to 6 decimals
)

// styles holds the workbook's cell styles. Money styles are created on first
// use, once per currency and variant; creation order follows the (sorted)
// rows, so style ids are deterministic.
type styles struct {
	f       *excelize.File
	header  int
	title   int
	good    int // COMPLETE banner
	bad     int // INCOMPLETE banner
	percent int
	qty     int // whole quantities: #,##0
	qtyFrac int // fractional quantities: #,##0.0#########
	count   int
	// Summary page
	heading   int // section heading: bold, larger, blue, bottom rule
	subtitle  int // the line under the title: grey
	label     int // bold row label
	factLabel int // grey, right-aligned label of a fact
	note      int // grey, wrapped
	moneyBy   map[moneyKey]int
	// shared, when set, makes this one stage's view of the workbook's
	// styles (moneyBy is then the view's own cache): see sharedMoney.
	shared *sharedMoney
	stage  int
}

type moneyKey struct {
	currency string
	variant  moneyVariant
}

func newStyles(f *excelize.File) (*styles, error) {
	s := &styles{f: f, moneyBy: make(map[moneyKey]int)}
	pctFmt := "0.00%;[Red]-0.00%"
	qtyFmt := "#,##0.0#########"
	defs := []struct {
		dst   *int
		name  string
		style excelize.Style
	}{
		{&s.header, "header", excelize.Style{
			Font:      &excelize.Font{Bold: true},
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{colorHeaderFill}},
			Border:    []excelize.Border{{Type: "bottom", Color: "8EA9DB", Style: 1}},
			Alignment: &excelize.Alignment{Vertical: "center"},
		}},
		{&s.title, "title", excelize.Style{Font: &excelize.Font{Bold: true, Size: 18, Color: colorTitleFont}}},
		{&s.good, "complete banner", excelize.Style{
			Font:      &excelize.Font{Bold: true, Size: 12, Color: colorGoodFont},
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{colorGoodFill}},
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true},
		}},
		{&s.bad, "incomplete banner", excelize.Style{
			Font:      &excelize.Font{Bold: true, Size: 12, Color: colorBadFont},
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{colorBadFill}},
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true},
		}},
		{&s.percent, "percent", excelize.Style{CustomNumFmt: &pctFmt}},
		// Whole quantities "1,234"; fractions keep their digits "1,234.5".
		{&s.qty, "quantity", excelize.Style{NumFmt: 3}},
		{&s.qtyFrac, "fractional quantity", excelize.Style{CustomNumFmt: &qtyFmt}},
		{&s.count, "count", excelize.Style{NumFmt: 3}}, // #,##0
		{&s.heading, "heading", excelize.Style{
			Font:   &excelize.Font{Bold: true, Size: 12, Color: colorTitleFont},
			Border: []excelize.Border{{Type: "bottom", Color: "8EA9DB", Style: 1}},
		}},
		{&s.subtitle, "subtitle", excelize.Style{Font: &excelize.Font{Color: colorNoteFont}}},
		{&s.label, "label", excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&s.factLabel, "fact label", excelize.Style{Font: &excelize.Font{Color: colorNoteFont}, Alignment: &excelize.Alignment{Horizontal: "right"}}},
		{&s.note, "note", excelize.Style{Font: &excelize.Font{Color: colorNoteFont}}},
	}
	for _, d := range defs {
		id, err := f.NewStyle(&d.style)
		if err != nil {
			return nil, fmt.Errorf("create %s style: %w", d.name, err)
		}
		*d.dst = id
	}
	return s, nil
}

// money returns the style of currency cur and variant v.
func (s *styles) money(cur string, v moneyVariant) (int, error) {
	k := moneyKey{cur, v}
	if id, ok := s.moneyBy[k]; ok {
		return id, nil
	}
	if s.shared != nil {
		id, err := s.shared.get(k, s.stage)
		if err == nil {
			s.moneyBy[k] = id
		}
		return id, err
	}
	return s.newMoney(k)
}

// newMoney creates the money style k.
func (s *styles) newMoney(k moneyKey) (int, error) {
	cur, v := k.currency, k.variant
	format := moneyFormat(cur, v == moneyUnit)
	st := excelize.Style{CustomNumFmt: &format}
	if v == moneyNegative {
		st.Font = &excelize.Font{Color: colorBadFont}
		st.Fill = excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{colorBadFill}}
	}
	id, err := s.f.NewStyle(&st)
	if err != nil {
		return 0, fmt.Errorf("create money style for currency %q: %w", cur, err)
	}
	s.moneyBy[k] = id
	return id, nil
}

// sharedMoney hands out the workbook's money styles to sheets produced at
// the same time (workbook_detail.go): the builder's goroutine writing the
// sheets before the detail sheets (stage 0: Commitments, Amendments), the
// Payable producer (stage 1) and the Receivable producer (stage 2). Every
// style gets the id it gets when the sheets are produced one after the
// other: style ids follow creation order, and a stage's rows come after the
// rows of the stages before it. A stage uses the styles that exist and, for
// one that does not, waits until an earlier stage creates it or all earlier
// stages are done, and only then creates it (stage 0 creates at once). The
// styles are created (excelize's NewStyle) under mu, one at a time; a stage
// other than 0 creates one only once stage 0 is done, when the builder's
// goroutine waits for the producers: nothing else touches the excelize file
// meanwhile.
type sharedMoney struct {
	mu      sync.Mutex
	changed *sync.Cond // a style was created, or a stage is done
	s       *styles    // the workbook's styles
	done    []bool     // by stage
}

// shareMoney returns the views of s of stages 0..stages-1 and their
// sharedMoney, whose stageDone every stage must call when it is done (also
// when it fails: a later stage may be waiting).
func (s *styles) shareMoney(stages int) (views []*styles, m *sharedMoney) {
	m = &sharedMoney{s: s, done: make([]bool, stages)}
	m.changed = sync.NewCond(&m.mu)
	for stage := range stages {
		v := *s
		v.moneyBy = make(map[moneyKey]int, len(s.moneyBy))
		for k, id := range s.moneyBy {
			v.moneyBy[k] = id
		}
		v.shared, v.stage = m, stage
		views = append(views, &v)
	}
	return views, m
}

func (m *sharedMoney) get(k moneyKey, stage int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if id, ok := m.s.moneyBy[k]; ok {
			return id, nil
		}
		if !slices.Contains(m.done[:stage], false) {
			id, err := m.s.newMoney(k)
			if err == nil {
				m.changed.Broadcast()
			}
			return id, err
		}
		m.changed.Wait()
	}
}

// stageDone says that stage creates no more styles.
func (m *sharedMoney) stageDone(stage int) {
	m.mu.Lock()
	m.done[stage] = true
	m.mu.Unlock()
	m.changed.Broadcast()
}

// moneyFormat is the number format of an amount in currency cur, e.g.
// `#,##0.00 "USD";[Red]-#,##0.00 "USD"`. A currency code that is not plain
// letters and digits (at most 8) is left out of the format rather than
// risking a broken format string.
func moneyFormat(cur string, unit bool) string {
	n := "#,##0.00"
	if unit {
		n = "#,##0.00####"
	}
	suffix := ""
	if isPlainCode(cur) {
		suffix = ` "` + cur + `"`
	}
	return n + suffix + ";[Red]-" + n + suffix
}

func isPlainCode(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
