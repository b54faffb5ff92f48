package xlsx

// Shared strings for the low-cardinality text of the big table sheets.
//
// Most text cells of the Payable, Receivable and Commitments sheets repeat a
// small vocabulary on every row: customer ids and names, products and SKUs,
// charge types, billing cycles, period dates, currencies, yes/no. Written
// as inline strings (`t="inlineStr"><is><t>Monthly</t></is>`) they are
// about a third of the sheets' XML; as shared strings (`t="s"><v>17</v>`,
// as Excel itself saves) the XML is smaller and cheaper to encode and to
// compress.
//
// The sheets are encoded concurrently, so the shared-string indices cannot
// be assigned as the rows come (they would depend on the goroutines'
// timing). The vocabulary is fixed before any sheet is written instead,
// from what the Result already knows (customers, products, currencies,
// the period's neighbouring dates) and a few fixed words, sorted, and it is
// shared read-only by every encoder. It is handed to excelize as the
// workbook's initial xl/sharedStrings.xml, so it is one table: excelize
// appends the Summary sheet's strings after it (reusing a vocabulary
// entry for an equal string), and writes the whole table at save time. A
// text that is not in the vocabulary, or is not plain (see plainShared),
// stays an inline string.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/xuri/excelize/v2"
)

// maxSharedVocab bounds the vocabulary: beyond it the customers' ids and
// names are left out (they stay inline strings).
const maxSharedVocab = 100_000

// sharedWords are enum values of the Sherweb API and of the workbook that
// the table sheets repeat on every row.
var sharedWords = []string{
	"yes", "no",
	attributionAttributed, report.RuleMapping, report.RuleInternal,
	report.ReasonNoCustomerTag, report.ReasonUnknownCustomer, report.ReasonAmbiguousName,
	// Charge types, billing cycles and terms.
	"Setup", "Recurring", "Usage", "Adjustment", "OneTime", "Cancellation", "Refund",
	"Monthly", "Yearly", "Annual", "Triennial", "Unknown", "None",
}

// sharedVocab is the workbook's shared-string vocabulary: index i of the
// shared-string table is list[i].
type sharedVocab struct {
	index map[string]int32
	list  []string
}

// newSharedVocab collects the vocabulary of a close workbook.
func newSharedVocab(res *report.Result, names map[string]string) *sharedVocab {
	set := make(map[string]struct{})
	add := func(s string) {
		if plainShared(s) {
			set[s] = struct{}{}
		}
	}
	for _, w := range sharedWords {
		add(w)
	}
	for _, t := range res.Totals {
		add(t.Currency)
	}
	for _, p := range res.Products {
		add(p.SKU)
		add(p.Product)
		add(p.Currency)
	}
	for _, f := range res.Mismatches {
		add(f.ChargeType)
	}
	for _, d := range periodDates(res.Period) {
		add(d)
	}
	customers := make(map[string]struct{})
	for id, name := range names {
		customers[id] = struct{}{}
		customers[name] = struct{}{}
	}
	for _, c := range res.Customers {
		customers[c.CustomerID] = struct{}{}
	}
	if len(set)+len(customers) <= maxSharedVocab {
		for s := range customers {
			add(s)
		}
	}
	v := &sharedVocab{index: make(map[string]int32, len(set)), list: make([]string, 0, len(set))}
	for s := range set {
		v.list = append(v.list, s)
	}
	sort.Strings(v.list)
	for i, s := range v.list {
		v.index[s] = int32(i)
	}
	return v
}

// periodDates are the dates from a year before the period to three years
// after it (prorated lines, yearly terms, renewals), as "YYYY-MM-DD".
func periodDates(p billing.Period) []string {
	from, err1 := time.Parse(time.DateOnly, string(p.From))
	to, err2 := time.Parse(time.DateOnly, string(p.To))
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 400*24*time.Hour {
		return nil
	}
	var out []string
	for d := from.AddDate(-1, 0, 0); !d.After(to.AddDate(3, 0, 1)); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// plainShared reports whether s can be a vocabulary entry: text that reads
// back exactly as the inline string would and that excelize writes back
// unchanged (no control characters, no leading or trailing whitespace, no
// "_x" that could read as an escaped character, valid UTF-8, short).
func plainShared(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) || strings.Contains(s, "_x") {
		return false
	}
	if isCellSpace(s[0]) || isCellSpace(s[len(s)-1]) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || !isInCharacterRange(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// tableXML is the initial xl/sharedStrings.xml holding the vocabulary.
func (v *sharedVocab) tableXML() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	n := strconv.Itoa(len(v.list))
	b.WriteString(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="` + n + `" uniqueCount="` + n + `">`)
	for _, s := range v.list {
		b.WriteString("<si><t>")
		_ = xml.EscapeText(&b, []byte(s))
		b.WriteString("</t></si>")
	}
	b.WriteString("</sst>")
	return b.Bytes()
}

// install makes the vocabulary the start of f's shared-string table; f
// must not have one yet.
func (v *sharedVocab) install(f *excelize.File) {
	f.Pkg.Store("xl/sharedStrings.xml", v.tableXML())
}

// check verifies that f's shared-string table still starts with the
// vocabulary, as the encoded sheets refer to it.
func (v *sharedVocab) check(f *excelize.File) error {
	if len(v.list) == 0 {
		return nil
	}
	sst := f.SharedStrings
	if sst == nil {
		return errors.New("shared strings: the vocabulary was not loaded")
	}
	if len(sst.SI) < len(v.list) {
		return fmt.Errorf("shared strings: %d entries, want at least %d", len(sst.SI), len(v.list))
	}
	for i, s := range v.list {
		if t := sst.SI[i].T; t == nil || t.Val != s || len(sst.SI[i].R) != 0 {
			return fmt.Errorf("shared strings: entry %d is not %q", i, s)
		}
	}
	return nil
}

// sharedCache is a row encoder's view of the vocabulary: the last text of
// each column and its index (most columns repeat their last value), before
// the map.
type sharedCache struct {
	v    *sharedVocab
	text []string
	idx  []int32
}

// lookup returns the shared-string index of s in column col, or -1.
func (c *sharedCache) lookup(col int, s string) int32 {
	if col < len(c.text) {
		if c.text[col] == s {
			return c.idx[col]
		}
	} else {
		for len(c.text) <= col {
			c.text = append(c.text, "")
			c.idx = append(c.idx, -1)
		}
	}
	i, ok := c.v.index[s]
	if !ok {
		i = -1
	}
	c.text[col], c.idx[col] = s, i
	return i
}
