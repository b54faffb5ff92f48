package billing

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"2024-03-01", "2024-03-01", true},
		{"2024-03-01T00:00:00Z", "2024-03-01", true},
		{"2024-03-01T23:30:00-05:00", "2024-03-01", true},
		{"2024-03-01T20:30:05.7613888", "2024-03-01", true},
		{"2024-02-30", "", false},
		{"03/01/2024", "", false},
		{"2024-03-01Tgarbage", "", false},
	} {
		got, err := ParseDate(tc.in)
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("ParseDate(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestTimestampIsUTC(t *testing.T) {
	var v struct{ T Timestamp }
	if err := json.Unmarshal([]byte(`{"T":"2024-02-14T18:03:11.1234567"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.T != "2024-02-14T18:03:11.1234567Z" {
		t.Errorf("zone-less timestamp = %q, want it read as UTC", v.T)
	}
}

func TestTextKeepsScale(t *testing.T) {
	for _, s := range []string{"45.00", "1843.275", "-12.00", "0.000123", "45", "1000"} {
		if got := Text(decimal.RequireFromString(s)); got != s {
			t.Errorf("Text(%s) = %s", s, got)
		}
	}
	if got := Text(decimal.RequireFromString("1e3")); got != "1000" {
		t.Errorf("Text(1e3) = %s, want 1000", got)
	}
}

func TestValidateRejectsAbsentMoney(t *testing.T) {
	var c PayableCharge
	if err := json.Unmarshal([]byte(`{"chargeId":"c1","sku":"S","quantity":1,"subTotal":null,"currency":"USD"}`), &c); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	fe, ok := err.(*FieldError)
	if !ok || len(fe.Fields) != 1 || fe.Fields[0] != "subTotal" {
		t.Fatalf("Validate() = %v, want a FieldError naming subTotal", err)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", `q"uote\back`, "tab\tnl\ncr\r", "ctl\x01", "é€😀"} {
		b := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("AppendJSONString(%q) = %s, round-trips to %q (%v)", s, b, back, err)
		}
	}
}

// FuzzParseText: ParseText (with its PlainDecimal fast path) gives what
// decimal.NewFromString gives: the same coefficient and exponent, or an
// error for the same texts.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{"0", "-0", "-0.00", "12.340", "007", "1.", ".5", "-.5", "+5", "1e3", "1.5E-7", "",
		"-", ".", "--1", "1..2", "999999999999999999", "-999999999999999999.9", "1000000000000000000",
		"123456789012345678", "0.000000000000000001", "−3.5", "1_0", " 1", "12.34.", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := decimal.NewFromString(s)
		got, gerr := ParseText(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("ParseText(%q) error %v, decimal.NewFromString %v", s, gerr, werr)
		}
		if werr != nil {
			return
		}
		if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
			t.Fatalf("ParseText(%q) = %s × 10^%d, decimal.NewFromString %s × 10^%d",
				s, got.Coefficient(), got.Exponent(), want.Coefficient(), want.Exponent())
		}
	})
}
