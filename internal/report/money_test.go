package report

import (
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestMarginPercent(t *testing.T) {
	tests := []struct {
		margin, receivable string
		want               string // "" when not ok
	}{
		{"1", "3", "33.33"},
		{"2", "3", "66.67"},
		{"-2", "3", "-66.67"},
		{"1", "8", "12.50"},
		{"0.00125", "1", "0.13"},   // exactly half: away from zero
		{"-0.00125", "1", "-0.13"}, // exactly half, negative: away from zero
		{"0.00124999", "1", "0.12"},
		{"-0.00124999", "1", "-0.12"},
		{"0.000049999999999999999999", "1", "0.00"}, // no intermediate rounding at 16 places
		{"5", "-10", "-50.00"},
		{"0", "10", "0.00"},
		{"265.625", "1500.125", "17.71"},
		{"1", "0", ""},
		{"0", "0.00", ""},
	}
	for _, tt := range tests {
		got, ok := MarginPercent(engDec(tt.margin), engDec(tt.receivable))
		if tt.want == "" {
			if ok {
				t.Errorf("MarginPercent(%s, %s) = %s, true; want not ok", tt.margin, tt.receivable, billing.Text(got))
			}
			continue
		}
		if !ok || billing.Text(got) != tt.want {
			t.Errorf("MarginPercent(%s, %s) = %s, %t; want %s", tt.margin, tt.receivable, billing.Text(got), ok, tt.want)
		}
	}
}

func TestNormalizeCurrency(t *testing.T) {
	for in, want := range map[string]string{"USD": "USD", " usd ": "USD", "Cad": "CAD", "": ""} {
		if got := NormalizeCurrency(in); got != want {
			t.Errorf("NormalizeCurrency(%q) = %q, want %q", in, got, want)
		}
	}
}
