package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Date is a calendar date as "yyyy-MM-dd", or "" when the API sent null.
// It decodes from a JSON date ("2024-03-01") or date-time
// ("2024-03-01T00:00:00Z", "2024-03-01T00:00:00.0000000"); a date-time keeps
// the date as written, without converting zones.
type Date string

// ParseDate parses "yyyy-MM-dd" or an RFC 3339 / zone-less date-time.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 10 {
		if _, err := time.Parse("2006-01-02", s[:10]); err == nil && (len(s) == 10 || s[10] == 'T' || s[10] == ' ') {
			if len(s) > 10 {
				if _, err := parseTimestamp(s); err != nil {
					return "", fmt.Errorf("invalid date %q", s)
				}
			}
			return Date(s[:10]), nil
		}
	}
	return "", fmt.Errorf("invalid date %q (want yyyy-MM-dd)", s)
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid date %s", b)
	}
	if s == "" {
		*d = ""
		return nil
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Time returns the date at midnight UTC (zero time for "").
func (d Date) Time() time.Time {
	t, _ := time.Parse("2006-01-02", string(d))
	return t
}

// Timestamp is an instant normalised to RFC 3339 UTC with up to 7 fractional
// digits, or "" for null. Sherweb sends some timestamps without a zone; those are
// read as UTC, as the API documentation says.
type Timestamp string

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

func parseTimestamp(s string) (time.Time, error) {
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid timestamp %q", s)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid timestamp %s", b)
	}
	if s == "" {
		*t = ""
		return nil
	}
	v, err := parseTimestamp(s)
	if err != nil {
		return err
	}
	*t = Timestamp(v.Format(time.RFC3339Nano))
	return nil
}

// RawJSON keeps a JSON value verbatim; null is kept as empty.
type RawJSON []byte

// UnmarshalJSON implements json.Unmarshaler.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*r = buf.Bytes()
	return nil
}

// MarshalJSON implements json.Marshaler.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// Text renders a decimal exactly as its canonical text: the value with the
// scale it arrived with (15.20 stays "15.20", 45 stays "45"). This is the form
// stored in the ledger and written to JSON output. Never use d.String(), which
// drops trailing zeros.
func Text(d decimal.Decimal) string {
	if d.Exponent() >= 0 {
		return d.String()
	}
	return d.StringFixed(-d.Exponent())
}

// ParseText parses text written by Text (or any decimal literal
// decimal.NewFromString takes), giving what NewFromString gives: the same
// coefficient and exponent. The plain form of nearly every amount
// (PlainDecimal) is parsed without NewFromString's general scan.
func ParseText(s string) (decimal.Decimal, error) {
	if v, exp, ok := PlainDecimal(s); ok {
		return decimal.New(v, exp), nil
	}
	return decimal.NewFromString(s)
}

// PlainDecimal parses the plain form of a decimal literal, an optional "-",
// digits, and an optional "." followed by digits, with at most 18 digits:
// v × 10^exp, exp being minus the digits after the point, as
// decimal.NewFromString parses it (decimal.New(v, exp) is that decimal).
// ok is false for any other text (exponents, a "+", a missing digit on
// either side of the point, more digits), which NewFromString may still
// take.
func PlainDecimal(s string) (v int64, exp int32, ok bool) {
	i := 0
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		i = 1
	}
	digits, frac := 0, -1 // frac: digits after the point, -1 before it
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && digits > 0:
			frac = 0
		default:
			return 0, 0, false
		}
		if digits > 18 {
			return 0, 0, false
		}
	}
	if digits == 0 || frac == 0 {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, -int32(max(frac, 0)), true
}
