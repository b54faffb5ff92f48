package billing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Commitment is a subscription's commitmentTerm (sherweb-api.md §2.4),
// decoded from the raw JSON the ledger keeps.
type Commitment struct {
	Type        string             // Monthly, Annual, Biennial, Triennial
	TermEndDate Date               // the last day of the term
	Renewal     *Renewal           // nil: will not auto-renew
	Minimums    []CommittedMinimum // committedMinimalQuantities (nil when null)
}

// Renewal is a commitment's renewalConfiguration.
type Renewal struct {
	Date              Date   // the first day of the next term
	ScheduledQuantity *int64 // nil: renews at the current quantity
}

// CommittedMinimum is one committedMinimalQuantities entry: the quantity may
// not go below Quantity until Until.
type CommittedMinimum struct {
	Until    Date
	Quantity int64
}

// ParseCommitment decodes a commitmentTerm; nil for a subscription with no
// commitment (null). committedUntil is accepted as a date or a date-time.
func ParseCommitment(raw RawJSON) (*Commitment, error) {
	return parseCommitment(raw, true)
}

// commitmentWire is the JSON of a commitmentTerm.
type commitmentWire struct {
	Type        string        `json:"type"`
	TermEndDate string        `json:"termEndDate"`
	Renewal     *renewalWire  `json:"renewalConfiguration"`
	Minimums    []minimumWire `json:"committedMinimalQuantities"`
}

type renewalWire struct {
	RenewalDate       string `json:"renewalDate"`
	ScheduledQuantity *int64 `json:"scheduledQuantity"`
}

type minimumWire struct {
	CommittedUntil string `json:"committedUntil"`
	Quantity       *int64 `json:"quantity"`
}

// parseCommitment is ParseCommitment; fast lets the plain shape the API
// sends be read without encoding/json (decodeCommitment), with the same
// result.
func parseCommitment(raw RawJSON, fast bool) (*Commitment, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var w commitmentWire
	if !fast || !decodeCommitment(raw, &w) {
		w = commitmentWire{}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("commitmentTerm: %w", err)
		}
	}
	c := &Commitment{Type: w.Type}
	var err error
	if c.TermEndDate, err = dateOf(w.TermEndDate); err != nil {
		return nil, fmt.Errorf("commitmentTerm.termEndDate: %w", err)
	}
	if w.Renewal != nil {
		d, err := dateOf(w.Renewal.RenewalDate)
		if err != nil {
			return nil, fmt.Errorf("commitmentTerm.renewalConfiguration.renewalDate: %w", err)
		}
		c.Renewal = &Renewal{Date: d, ScheduledQuantity: w.Renewal.ScheduledQuantity}
	}
	for i, m := range w.Minimums {
		d, err := dateOf(m.CommittedUntil)
		if err != nil {
			return nil, fmt.Errorf("commitmentTerm.committedMinimalQuantities[%d].committedUntil: %w", i, err)
		}
		if m.Quantity == nil {
			return nil, fmt.Errorf("commitmentTerm.committedMinimalQuantities[%d].quantity: required value is null or missing", i)
		}
		c.Minimums = append(c.Minimums, CommittedMinimum{Until: d, Quantity: *m.Quantity})
	}
	return c, nil
}

// decodeCommitment reads raw into w, as json.Unmarshal would, when raw has
// the plain shape: an object of the four known keys (exact case, each
// once), strings without escapes or non-ASCII bytes, integers without
// fraction or exponent, nulls, and nothing after it but white space. It
// reports false for anything else (w is then to be decoded again).
func decodeCommitment(raw []byte, w *commitmentWire) bool {
	d := plainJSON{b: raw}
	var seen [4]bool
	ok := d.object(func(key string) bool {
		switch key {
		case "type":
			return once(&seen[0]) && d.str(&w.Type)
		case "termEndDate":
			return once(&seen[1]) && d.str(&w.TermEndDate)
		case "renewalConfiguration":
			if !once(&seen[2]) {
				return false
			}
			if d.null() {
				return true
			}
			w.Renewal = &renewalWire{}
			var rs [2]bool
			return d.object(func(key string) bool {
				switch key {
				case "renewalDate":
					return once(&rs[0]) && d.str(&w.Renewal.RenewalDate)
				case "scheduledQuantity":
					return once(&rs[1]) && d.int(&w.Renewal.ScheduledQuantity)
				}
				return false
			})
		case "committedMinimalQuantities":
			if !once(&seen[3]) {
				return false
			}
			if d.null() {
				return true
			}
			w.Minimums = []minimumWire{}
			return d.array(func() bool {
				w.Minimums = append(w.Minimums, minimumWire{})
				m := &w.Minimums[len(w.Minimums)-1]
				var ms [2]bool
				return d.object(func(key string) bool {
					switch key {
					case "committedUntil":
						return once(&ms[0]) && d.str(&m.CommittedUntil)
					case "quantity":
						return once(&ms[1]) && d.int(&m.Quantity)
					}
					return false
				})
			})
		}
		return false
	})
	d.ws()
	return ok && d.i == len(d.b)
}

func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// plainJSON reads the plain JSON decodeCommitment accepts.
type plainJSON struct {
	b []byte
	i int
}

func (d *plainJSON) ws() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

// tok skips white space and reads the byte c.
func (d *plainJSON) tok(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null reads a null (and nothing when there is none).
func (d *plainJSON) null() bool {
	d.ws()
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// rawStr reads a string of printable ASCII without escapes.
func (d *plainJSON) rawStr() (string, bool) {
	if !d.tok('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return string(d.b[start : d.i-1]), true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return "", false
		}
		d.i++
	}
	return "", false
}

// str reads a string, or a null (which leaves *dst as it is).
func (d *plainJSON) str(dst *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.rawStr()
	*dst = s
	return ok
}

// int reads an integer that fits an int64 (JSON's syntax), or a null.
func (d *plainJSON) int(dst **int64) bool {
	if d.null() {
		*dst = nil
		return true
	}
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.b[digits] == '0' || n > 18 {
		return false // none, a leading zero, or maybe past int64: encoding/json decides
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return false
	}
	*dst = &v
	return true
}

// object reads an object, calling member after each key and its colon.
func (d *plainJSON) object(member func(key string) bool) bool {
	if !d.tok('{') {
		return false
	}
	if d.tok('}') {
		return true
	}
	for {
		key, ok := d.rawStr()
		if !ok || !d.tok(':') || !member(key) {
			return false
		}
		if d.tok('}') {
			return true
		}
		if !d.tok(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element.
func (d *plainJSON) array(elem func() bool) bool {
	if !d.tok('[') {
		return false
	}
	if d.tok(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.tok(']') {
			return true
		}
		if !d.tok(',') {
			return false
		}
	}
}

// dateOf reads a yyyy-MM-dd date, or the date part of a date-time.
func dateOf(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if len(s) > 10 && s[10] == 'T' {
		s = s[:10]
	}
	if plainText(s) { // what the JSON string below reads back as
		if s == "" {
			return "", nil
		}
		return ParseDate(s)
	}
	var d Date
	if err := d.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		return "", err
	}
	return d, nil
}

// plainText reports whether s is printable ASCII without quote or
// backslash: a JSON string of it reads back as s.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// MinimumOn is the committed minimal quantity in force on day d: the entry
// with the earliest committedUntil on or after d; 0 when none is.
func (c *Commitment) MinimumOn(d Date) (qty int64, until Date) {
	if c == nil {
		return 0, ""
	}
	for _, m := range c.Minimums {
		if m.Until >= d && (until == "" || m.Until < until) {
			qty, until = m.Quantity, m.Until
		}
	}
	return qty, until
}
