package xlsx

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Column widths that fit the content (in characters of the default font).
const (
	minColWidth = 8
	maxColWidth = 60
)

// widthMeasure measures the cells of a table to size its columns.
type widthMeasure struct {
	b      *builder
	widths []float64
}

func (m *widthMeasure) start(b *builder, cols []column) {
	m.b = b
	m.widths = make([]float64, len(cols))
	for i, c := range cols {
		m.widths[i] = float64(utf8.RuneCountInString(c.name)) + 4 // bold text and the filter button
	}
}

func (m *widthMeasure) row(cells []cell) {
	for i, c := range cells {
		if i >= len(m.widths) {
			break
		}
		if w := m.cellWidth(c) + 2; w > m.widths[i] {
			m.widths[i] = w
		}
	}
	for i := range m.widths {
		m.widths[i] = math.Min(math.Max(m.widths[i], minColWidth), maxColWidth)
	}
}

// cellWidth estimates the displayed width of a cell.
func (m *widthMeasure) cellWidth(c cell) float64 {
	switch c.kind {
	case cellText:
		return float64(utf8.RuneCountInString(c.text))
	case cellBytes:
		return float64(utf8.RuneCount(c.raw))
	case cellInt:
		return float64(groupedLen(strconv.FormatInt(c.n, 10)))
	case cellFloat, cellDecimal:
		v := c.num
		if c.kind == cellDecimal {
			v = num(c.dec)
		}
		st := m.b.st
		switch c.style {
		case st.qty, st.qtyFrac, st.count:
			return float64(groupedLen(strconv.FormatFloat(v, 'f', -1, 64)))
		case st.percent:
			return float64(len(strconv.FormatFloat(v*100, 'f', 2, 64)) + 1)
		}
		// money: 2 decimals, separators, " CUR"
		return float64(groupedLen(strconv.FormatFloat(v, 'f', 2, 64)) + 4)
	}
	return 0
}

// groupedLen is the length of a number's text with thousands separators.
func groupedLen(s string) int {
	n := len(s)
	intPart := n
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart = i
			break
		}
	}
	digits := intPart
	if len(s) > 0 && s[0] == '-' {
		digits--
	}
	if digits > 3 {
		n += (digits - 1) / 3
	}
	return n
}
