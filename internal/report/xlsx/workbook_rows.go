// This file carries bstrMarshal, copied from excelize v2.11.1 (lib.go),
// which is distributed under the following license:
//
// BSD 3-Clause License
//
// Copyright (c) 2016-2026 The excelize Authors.
// Copyright (c) 2011-2017 Geoffrey J. Teale
// All rights reserved.
//
// Redistribution and use in source and binary forms, with or without
// modification, are permitted provided that the following conditions are met:
//
// * Redistributions of source code must retain the above copyright notice, this
//   list of conditions and the following disclaimer.
//
// * Redistributions in binary form must reproduce the above copyright notice,
//   this list of conditions and the following disclaimer in the documentation
//   and/or other materials provided with the distribution.
//
// * Neither the name of the copyright holder nor the names of its
//   contributors may be used to endorse or promote products derived from
//   this software without specific prior written permission.
//
// THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
// AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
// IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
// DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
// FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
// DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
// SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
// CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
// OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
// OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

package xlsx

// Fast rows for the table sheets.
//
// excelize's StreamWriter.SetRow costs about 1.4 µs and a dozen allocations
// per cell (an interface per value, a cell reference string, an xlsxC with
// an xlsxSI per inline string, xml.EscapeText into a strings.Builder, a
// regexp pass, and a scan of every column definition for a default style):
// about 70% of the workbook's time on the 25-column Payable sheet.
//
// So the data rows of the table sheets are encoded here instead, into the
// very bytes SetRow would write except for the cell references a reader
// infers (appendRow): with each cell's reference filled back in, they are
// excelize's own output (TestRowEncoderMatchesExcelize and
// TestWorkbookFastRowsMatchExcelize compare them). They are compressed into
// the sheet's zip part as they come (workbook_parts.go).

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// cellKind is what a cell holds.
type cellKind uint8

const (
	cellNone  cellKind = iota // no cell at all
	cellBlank                 // a styled cell without a value
	cellText                  // text (inline string): text
	cellBytes                 // text (inline string): raw, valid until the row is written
	cellFloat                 // number: num
	cellInt                   // integer: n
	// cellDecimal is a number held exactly (dec) until the row is written:
	// it becomes the float num(dec) only then, and its text is made from
	// the decimal's digits when they are the float's (appendShortDecimal).
	cellDecimal
)

// cell is one cell of a table row. The zero cell is no cell.
type cell struct {
	kind  cellKind
	style int
	text  string
	raw   []byte
	num   float64
	n     int64
	dec   decimal.Decimal
}

// value is the cell as excelize's SetRow takes it (nil for no cell).
func (c cell) value() any {
	switch c.kind {
	case cellBlank:
		return excelize.Cell{StyleID: c.style}
	case cellText:
		return excelize.Cell{StyleID: c.style, Value: c.text}
	case cellBytes:
		return excelize.Cell{StyleID: c.style, Value: string(c.raw)}
	case cellFloat:
		return excelize.Cell{StyleID: c.style, Value: c.num}
	case cellInt:
		return excelize.Cell{StyleID: c.style, Value: c.n}
	case cellDecimal:
		return excelize.Cell{StyleID: c.style, Value: num(c.dec)}
	}
	return nil
}

// rowEncoder encodes table rows as sheet XML as excelize's
// StreamWriter.SetRow does for the same values without row options, but
// for the cell references a reader infers (appendRow).
type rowEncoder struct {
	cols   [][]byte // column letters: A, B, …
	rowNum []byte   // scratch: the row number's digits
}

func (e *rowEncoder) colName(i int) []byte {
	for len(e.cols) <= i {
		name, _ := excelize.ColumnNumberToName(len(e.cols) + 1)
		e.cols = append(e.cols, []byte(name))
	}
	return e.cols[i]
}

// appendRow appends row number r (1-based) with cells starting in column A.
//
// A cell's reference (r="B7") is written only when the cell does not
// directly follow the previous cell of its row (or, for the first cell, is
// not in column A): the attribute is optional (ECMA-376 Part 1, 18.3.1.4),
// and a reader places a cell without one in the column after the previous
// cell's, as Excel, LibreOffice and excelize do. The references were a
// fifth of a detail sheet's XML and, unlike the rest of it, barely
// compressible: without them the 1M-line sheets are about half the size
// compressed, and faster to compress (BENCHMARKS.md, "Cell references only
// where a column is skipped"). Rows keep their r="7".
func (e *rowEncoder) appendRow(dst []byte, r int, cells []cell) []byte {
	e.rowNum = strconv.AppendInt(e.rowNum[:0], int64(r), 10)
	dst = append(dst, `<row r="`...)
	dst = append(dst, e.rowNum...)
	dst = append(dst, `">`...)
	next := 0 // the column a cell without a reference is placed in
	for i := range cells {
		c := &cells[i]
		if c.kind == cellNone {
			continue
		}
		if i == next {
			dst = append(dst, `<c`...)
		} else {
			dst = append(dst, `<c r="`...)
			dst = append(dst, e.colName(i)...)
			dst = append(dst, e.rowNum...)
			dst = append(dst, '"')
		}
		next = i + 1
		if c.style != 0 {
			dst = append(dst, ` s="`...)
			dst = strconv.AppendInt(dst, int64(c.style), 10)
			dst = append(dst, '"')
		}
		switch c.kind {
		case cellBlank:
			dst = append(dst, '>')
		case cellText:
			dst = appendInlineStr(dst, c.text)
		case cellBytes:
			dst = appendInlineStr(dst, c.raw)
		case cellFloat:
			dst = appendNumber(dst, c.num)
		case cellDecimal:
			if short, ok := appendShortDecimal(append(dst, `><v>`...), c.dec); ok {
				dst = append(short, `</v>`...)
				break
			}
			dst = appendNumber(dst, num(c.dec))
		case cellInt:
			dst = append(dst, `><v>`...)
			dst = strconv.AppendInt(dst, c.n, 10)
			dst = append(dst, `</v>`...)
		}
		dst = append(dst, `</c>`...)
	}
	return append(dst, `</row>`...)
}

// appendNumber appends the rest of a number cell holding v, after its
// reference and style, as excelize's SetRow writes a float64: its value, or
// an inline string when v is not a number Excel can store.
func appendNumber(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return appendInlineStr(dst, fmt.Sprint(v))
	}
	dst = append(dst, `><v>`...)
	dst = appendCellFloat(dst, v)
	return append(dst, `</v>`...)
}

// appendInlineStr appends ` t="inlineStr"><is><t>…</t></is>` for s, as
// excelize's setInlineStr and writeCell do: the text is cut to Excel's
// 32,767 UTF-16 units, xml:space="preserve" is set when it starts or ends
// with whitespace, it is XML-escaped (newlines kept as they are) and
// "_xHHHH_" sequences are escaped as "_x005F_xHHHH_".
func appendInlineStr[S string | []byte](dst []byte, s S) []byte {
	if len(s) > excelize.TotalCellChars {
		s = truncateUTF16(s, excelize.TotalCellChars)
	}
	dst = append(dst, ` t="inlineStr"><is><t`...)
	if n := len(s); n > 0 && (isCellSpace(s[0]) || isCellSpace(s[n-1])) {
		dst = append(dst, ` xml:space="preserve"`...)
	}
	dst = append(dst, '>')
	start := len(dst)
	var underscore bool
	dst, underscore = appendEscaped(dst, s)
	if underscore && bytes.Contains(dst[start:], []byte("_x")) {
		escaped := bstrMarshal(string(dst[start:]))
		dst = append(dst[:start], escaped...)
	}
	return append(dst, `</t></is>`...)
}

func isCellSpace(b byte) bool { return b == '\t' || b == '\n' || b == '\r' || b == ' ' }

// truncateUTF16 cuts s to at most n UTF-16 code units (excelize's
// truncateUTF16Units; invalid bytes count as one unit each).
func truncateUTF16[S string | []byte](s S, n int) S {
	cnt := 0
	for i := 0; i < len(s); {
		r, w := decodeRune(s[i:])
		if cnt += utf16.RuneLen(r); cnt > n {
			return s[:i]
		}
		i += w
	}
	return s
}

func decodeRune[S string | []byte](s S) (rune, int) {
	if b, ok := any(s).([]byte); ok {
		return utf8.DecodeRune(b)
	}
	return utf8.DecodeRuneInString(string(s))
}

// appendEscaped is encoding/xml's EscapeText, except that "\n" is kept as
// it is (excelize replaces "&#xA;" back with "\n"). underscore reports
// whether the text may hold an "_" (the escaped text is then checked for
// "_xHHHH_"; most texts have none, and a search for "_x" in every cell
// cost more than the escaping).
func appendEscaped[S string | []byte](dst []byte, s S) (out []byte, underscore bool) {
	// Fast path: printable ASCII without XML specials is copied as it is
	// (most identifiers, SKUs, names and dates).
	i := 0
	seen := uint8(0)
	for i < len(s) {
		k := plainXML[s[i]]
		if k == 0 {
			break
		}
		seen |= k
		i++
	}
	if i == len(s) {
		return append(dst, s...), seen&plainUnderscore != 0
	}
	underscore = true // not worth tracking past the fast path
	last := 0
	for i := 0; i < len(s); {
		b := s[i]
		var esc string
		width := 1
		if b < utf8.RuneSelf {
			switch b {
			case '"':
				esc = "&#34;"
			case '\'':
				esc = "&#39;"
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '\t':
				esc = "&#x9;"
			case '\r':
				esc = "&#xD;"
			case '\n':
				i++
				continue
			default:
				if b >= 0x20 {
					i++
					continue
				}
				esc = "\uFFFD"
			}
		} else {
			var r rune
			r, width = decodeRune(s[i:])
			if isInCharacterRange(r) && !(r == utf8.RuneError && width == 1) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += width
		last = i
	}
	return append(dst, s[last:]...), underscore
}

// plainXML marks the bytes appendEscaped copies as they are without a
// further look (non-zero): printable ASCII other than the five XML
// specials, and "\n"; "_" is marked plainUnderscore.
const (
	plainByte       = 1
	plainUnderscore = 2
)

var plainXML = func() (t [256]uint8) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = plainByte
	}
	for _, b := range []byte{'"', '\'', '&', '<', '>'} {
		t[b] = 0
	}
	t['\n'] = plainByte
	t['_'] = plainUnderscore
	return t
}()

// isInCharacterRange is encoding/xml's test for a character XML allows.
func isInCharacterRange(r rune) bool {
	return r == 0x09 ||
		r == 0x0A ||
		r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

var (
	bstrExp       = regexp.MustCompile(`_x[a-fA-F\d]{4}_`)
	bstrEscapeExp = regexp.MustCompile(`x[a-fA-F\d]{4}_`)
)

// bstrMarshal is excelize v2.11.1's bstrMarshal (lib.go, BSD-3-Clause),
// copied as it is: it escapes "_xHHHH_" so Excel does not read it as an
// escaped character. Only text containing "_x" reaches it.
func bstrMarshal(s string) (result string) {
	matches, l, cursor := bstrExp.FindAllStringSubmatchIndex(s, -1), len(s), 0
	for _, match := range matches {
		result += s[cursor:match[0]]
		subStr := s[match[0]:match[1]]
		if subStr == "_x005F_" {
			cursor = match[1]
			if match[1]+6 <= l && bstrEscapeExp.MatchString(s[match[1]:match[1]+6]) {
				_, err := strconv.Unquote(`"\u` + s[match[1]+1:match[1]+5] + `"`)
				if err == nil {
					result += subStr + "x005F" + subStr
					continue
				}
			}
			result += subStr + "x005F_"
			continue
		}
		if bstrExp.MatchString(subStr) {
			cursor = match[1]
			if _, err := strconv.Unquote(`"\u` + s[match[0]+2:match[1]-1] + `"`); err == nil {
				result += "_x005F" + subStr
				continue
			}
		}
	}
	if cursor < l {
		result += s[cursor:]
	}
	return result
}

// appendShortDecimal appends the text appendCellFloat(dst, num(d)) appends,
// made from d's digits without forming the float, when d has at most 15
// significant digits and lies between 1e-30 and 1e15 in magnitude (or is
// zero); otherwise it appends nothing and returns false.
//
// Why the texts are the same: float64 carries 15 significant decimal
// digits (DBL_DIG): two different decimals of at most 15 significant digits
// are at least 10^-15 apart relative to their size, more than the spacing
// of the floats near them (2^-52 ≈ 2.2e-16 relative), so at most one of them
// rounds to a given float. The float nearest d therefore has d itself as its
// only decimal form of 15 digits or fewer, so its shortest round-trip digits
// (strconv's 'f', -1) are d's digits without trailing zeros, printed in
// fixed notation, and the cut to 15 significant digits leaves them as they
// are; a whole d below 1e15 is a whole float, printed by its integer digits.
// TestAppendShortDecimalMatchesFloat checks this against appendCellFloat.
func appendShortDecimal(dst []byte, d decimal.Decimal) ([]byte, bool) {
	if d.NumDigits() > 18 { // the coefficient may not fit an int64
		return dst, false
	}
	coef, exp := d.CoefficientInt64(), int(d.Exponent())
	if coef == 0 {
		return append(dst, '0'), true
	}
	for exp < 0 && coef%10 == 0 {
		coef /= 10
		exp++
	}
	u := uint64(coef)
	if coef < 0 {
		u = -u
	}
	const max15 = 999_999_999_999_999 // the largest 15-digit coefficient
	if u > max15 || exp < -30 {
		return dst, false
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	if exp >= 0 && len(digits)+exp > 15 { // 1e15 or more
		return dst, false
	}
	if coef < 0 {
		dst = append(dst, '-')
	}
	switch {
	case exp >= 0:
		dst = append(dst, digits...)
		for ; exp > 0; exp-- {
			dst = append(dst, '0')
		}
	case len(digits) > -exp:
		point := len(digits) + exp
		dst = append(dst, digits[:point]...)
		dst = append(dst, '.')
		dst = append(dst, digits[point:]...)
	default:
		dst = append(dst, '0', '.')
		for i := len(digits); i < -exp; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return dst, true
}

// appendCellFloat is excelize's formatCellFloat(v, -1, 64): the shortest
// decimal text of v, cut (not rounded) to Excel's 15 significant digits.
func appendCellFloat(dst []byte, v float64) []byte {
	// Whole numbers below 10^15 (quantities, round amounts): their shortest
	// text is their integer digits, which are at most 15 significant ones.
	if v == math.Trunc(v) && math.Abs(v) < 1e15 && (v != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	if math.Abs(v) == math.MaxFloat64 {
		return dst
	}
	const maxPrec = 15
	str := dst[start:]
	dot := bytes.IndexByte(str, '.')
	significant := 0
	for idx := range str {
		if str[idx] < '0' || str[idx] > '9' || significant == 0 && str[idx] == '0' {
			continue
		}
		significant++
		if significant <= maxPrec {
			continue
		}
		if dot >= 0 && idx > dot {
			out := str[:idx]
			if out[len(out)-1] == '.' {
				out = out[:len(out)-1]
			}
			return dst[:start+len(out)]
		}
		if dot < 0 {
			dot = len(str)
		}
		for ; idx < dot; idx++ {
			str[idx] = '0'
		}
		return dst[:start+dot]
	}
	return dst
}
