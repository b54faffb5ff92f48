package report

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// update rewrites golden files under testdata (shared by every test of the
// package: go test ./internal/report/ -update).
var update = flag.Bool("update", false, "rewrite golden files under testdata")

var engPeriod = billing.Period{From: "2026-10-01", To: "2026-10-31"}

func engDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func engND(s string) decimal.NullDecimal {
	if s == "" {
		return decimal.NullDecimal{}
	}
	return decimal.NewNullDecimal(engDec(s))
}

// engTags builds tags from name, value pairs.
func engTags(kv ...string) []billing.Tag {
	var t []billing.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		t = append(t, billing.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return t
}

// engPay is a payable line of the whole October period tagged with a
// CustomerId (none when cust is "").
func engPay(cust, sku, qty, sub, cur string) billing.PayableCharge {
	c := billing.PayableCharge{
		ProductName: "Product " + sku, SKU: sku, ChargeType: "Recurring",
		PeriodFrom: engPeriod.From, PeriodTo: engPeriod.To,
		Quantity: engND(qty), SubTotal: engND(sub), Currency: cur,
	}
	if cust != "" {
		c.Tags = engTags("CustomerId", cust)
	}
	return c
}

func engPayPeriod(cust, sku, qty, sub, cur string, from, to billing.Date) billing.PayableCharge {
	c := engPay(cust, sku, qty, sub, cur)
	c.PeriodFrom, c.PeriodTo = from, to
	return c
}

// engRecv is a receivable line of the whole October period.
func engRecv(sku, qty, cpp, cur string) billing.ReceivableCharge {
	return billing.ReceivableCharge{
		ProductName: "Product " + sku, SKU: sku, ChargeType: "Recurring",
		PeriodFrom: engPeriod.From, PeriodTo: engPeriod.To,
		Quantity: engND(qty), CostPriceProrated: engND(cpp), Currency: cur,
	}
}

func engRecvPeriod(sku, qty, cpp, cur string, from, to billing.Date) billing.ReceivableCharge {
	c := engRecv(sku, qty, cpp, cur)
	c.PeriodFrom, c.PeriodTo = from, to
	return c
}

func engCustomers(ids ...string) []billing.Customer {
	var cs []billing.Customer
	for _, id := range ids {
		cs = append(cs, billing.Customer{ID: id, DisplayName: "Name " + id})
	}
	return cs
}

func engAvailable(ids ...string) []Coverage {
	var cv []Coverage
	for _, id := range ids {
		cv = append(cv, Coverage{CustomerID: id, Status: billing.CoverageAvailable, Period: engPeriod})
	}
	return cv
}

func engFindingString(f Finding) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s..%s|%s|q %s/%s|a %s/%s|%s", f.Kind, f.CustomerID, f.SKU, f.ChargeType,
		f.PeriodFrom, f.PeriodTo, f.Currency, billing.Text(f.PayableQty), billing.Text(f.ReceivableQty),
		billing.Text(f.PayableAmount), billing.Text(f.ReceivableAmount), f.Reason)
}

func engFindings(r *Result) []string {
	out := []string{}
	for _, f := range r.Mismatches {
		out = append(out, engFindingString(f))
	}
	return out
}

func engTotals(r *Result) []string {
	out := []string{}
	for _, t := range r.Totals {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s", t.Currency, billing.Text(t.Payable), billing.Text(t.Receivable), billing.Text(t.Margin)))
	}
	return out
}

func engCustomerRows(r *Result) []string {
	out := []string{}
	for _, c := range r.Customers {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%t", c.CustomerID, c.CustomerName, c.Currency,
			billing.Text(c.Payable), billing.Text(c.Receivable), billing.Text(c.Margin), c.Available))
	}
	return out
}

func engProductRows(r *Result) []string {
	out := []string{}
	for _, p := range r.Products {
		out = append(out, fmt.Sprintf("%s|%s|%s|q %s/%s|%s|%s|%s", p.SKU, p.Product, p.Currency,
			billing.Text(p.PayableQty), billing.Text(p.ReceivableQty),
			billing.Text(p.Payable), billing.Text(p.Receivable), billing.Text(p.Margin)))
	}
	return out
}

func engCheck(t *testing.T, what string, got, want []string) {
	t.Helper()
	if want == nil {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func TestAttribute(t *testing.T) {
	customers := []billing.Customer{
		{ID: "C-1", DisplayName: "Acme"},
		{ID: "C-2", DisplayName: "Beta"},
		{ID: "C-3", DisplayName: "Beta"},
		{ID: "c-4", DisplayName: "  Gamma  "},
		{ID: "C-5", DisplayName: "=1+1"},
		{ID: "C-6"}, // no name
	}
	tests := []struct {
		name       string
		tags       []billing.Tag
		wantID     string
		wantName   string
		wantReason string
	}{
		{"customer id tag", engTags("CustomerId", "C-1"), "C-1", "Acme", ""},
		{"tag name case-insensitive", engTags("CUSTOMERID", "C-2"), "C-2", "Beta", ""},
		{"id value case-insensitive", engTags("customerid", "c-1"), "C-1", "Acme", ""},
		{"id value lower-case customer id", engTags("CustomerId", "C-4"), "c-4", "  Gamma  ", ""},
		{"id value not trimmed", engTags("CustomerId", " C-1"), "", "", ReasonUnknownCustomer},
		{"display name", engTags("CustomerDisplayName", "Acme"), "C-1", "Acme", ""},
		{"display name tag name case-insensitive", engTags("customerdisplayname", "Acme"), "C-1", "Acme", ""},
		{"display name value trimmed", engTags("CustomerDisplayName", " \tAcme \n"), "C-1", "Acme", ""},
		{"customer display name trimmed", engTags("CustomerDisplayName", "Gamma"), "c-4", "  Gamma  ", ""},
		{"display name case-sensitive", engTags("CustomerDisplayName", "acme"), "", "", ReasonUnknownCustomer},
		{"display name formula-like", engTags("CustomerDisplayName", "=1+1"), "C-5", "=1+1", ""},
		{"ambiguous display name", engTags("CustomerDisplayName", "Beta"), "", "", ReasonAmbiguousName},
		{"unknown display name", engTags("CustomerDisplayName", "Delta"), "", "", ReasonUnknownCustomer},
		{"unknown id", engTags("CustomerId", "C-9"), "", "", ReasonUnknownCustomer},
		{"tags null", nil, "", "", ReasonNoCustomerTag},
		{"tags empty", []billing.Tag{}, "", "", ReasonNoCustomerTag},
		{"other tags only", engTags("Department", "C-1", "Customer", "Acme"), "", "", ReasonNoCustomerTag},
		{"null name and value", []billing.Tag{{}}, "", "", ReasonNoCustomerTag},
		{"empty id value counts as no tag", engTags("CustomerId", "  "), "", "", ReasonNoCustomerTag},
		{"unknown id, known name: rule 2", engTags("CustomerId", "C-9", "CustomerDisplayName", "Acme"), "C-1", "Acme", ""},
		{"id wins over name", engTags("CustomerDisplayName", "Acme", "CustomerId", "C-2"), "C-2", "Beta", ""},
		{"id resolves an ambiguous name", engTags("CustomerDisplayName", "Beta", "CustomerId", "C-3"), "C-3", "Beta", ""},
		{"unknown id, ambiguous name", engTags("CustomerId", "C-9", "CustomerDisplayName", "Beta"), "", "", ReasonAmbiguousName},
		{"two id tags, one customer", engTags("CustomerId", "C-1", "customerId", "c-1"), "C-1", "Acme", ""},
		{"two id tags, two customers", engTags("CustomerId", "C-1", "CustomerId", "C-2"), "", "", ReasonAmbiguousName},
		{"two id tags, two customers, name decides", engTags("CustomerId", "C-1", "CustomerId", "C-2", "CustomerDisplayName", "Acme"), "C-1", "Acme", ""},
		{"two name tags, two customers", engTags("CustomerDisplayName", "Acme", "CustomerDisplayName", "Gamma"), "", "", ReasonAmbiguousName},
		{"customer without name", engTags("CustomerId", "C-6"), "C-6", "", ""},
		{"empty name matches no nameless customer", engTags("CustomerDisplayName", ""), "", "", ReasonNoCustomerTag},
	}
	a := NewAttributor(customers)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := engPay("", "SKU", "1", "1.00", "USD")
			c.Tags = tt.tags
			id, name, reason := a.Attribute(&c)
			if id != tt.wantID || name != tt.wantName || reason != tt.wantReason {
				t.Errorf("Attribute = (%q, %q, %q), want (%q, %q, %q)", id, name, reason, tt.wantID, tt.wantName, tt.wantReason)
			}
		})
	}
}

type engCase struct {
	name        string
	customers   []billing.Customer
	coverage    []Coverage
	payableFail bool
	payables    []billing.PayableCharge
	receivables map[string][]billing.ReceivableCharge
	opts        Options

	wantComplete  bool
	wantFindings  []string // nil: not checked
	wantTotals    []string
	wantCustomers []string
	wantProducts  []string
	wantMissing   []string // customer|reason
	wantAvailable int
}

func (tc engCase) run(t *testing.T) *Result {
	t.Helper()
	in := Input{RunID: "run-1", Period: engPeriod, Customers: tc.customers, Coverage: tc.coverage, PayableOK: !tc.payableFail}
	r := Reconcile(in, tc.payables, tc.receivables, tc.opts)
	if r.Complete != tc.wantComplete {
		t.Errorf("Complete = %t, want %t", r.Complete, tc.wantComplete)
	}
	engCheck(t, "findings", engFindings(r), tc.wantFindings)
	engCheck(t, "totals", engTotals(r), tc.wantTotals)
	engCheck(t, "customers", engCustomerRows(r), tc.wantCustomers)
	engCheck(t, "products", engProductRows(r), tc.wantProducts)
	if tc.wantMissing != nil {
		got := []string{}
		for _, m := range r.Coverage.Missing {
			got = append(got, m.CustomerID+"|"+string(m.Reason))
		}
		engCheck(t, "missing", got, tc.wantMissing)
		if r.Coverage.Available != tc.wantAvailable {
			t.Errorf("Coverage.Available = %d, want %d", r.Coverage.Available, tc.wantAvailable)
		}
		if r.Coverage.Customers != tc.wantAvailable+len(tc.wantMissing) {
			t.Errorf("Coverage.Customers = %d, want %d", r.Coverage.Customers, tc.wantAvailable+len(tc.wantMissing))
		}
	}
	return r
}

const oct = "2026-10-01..2026-10-31"

func TestReconcileMatching(t *testing.T) {
	tests := []engCase{
		{
			name:      "clean match: no finding",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:      []billing.PayableCharge{engPay("A", "S1", "3", "45.00", "USD")},
			receivables:   map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "3", "16.50", "USD")}},
			wantComplete:  true,
			wantFindings:  []string{},
			wantTotals:    []string{"USD|45.00|49.50|4.50"},
			wantCustomers: []string{"A|Name A|USD|45.00|49.50|4.50|true"},
			wantProducts:  []string{"S1|Product S1|USD|q 3/3|45.00|49.50|4.50"},
		},
		{
			name:      "unbilled: payable only",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "3", "45.00", "USD")},
			wantComplete: true,
			wantFindings: []string{"unbilled|A|S1|Recurring|" + oct + "|USD|q 3/0|a 45.00/0|"},
			wantTotals:   []string{"USD|45.00|0|-45.00"},
		},
		{
			name:      "unexpected_receivable: receivable only",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "2", "7.125", "USD")}},
			wantComplete: true,
			wantFindings: []string{"unexpected_receivable|A|S1|Recurring|" + oct + "|USD|q 0/2|a 0/14.250|"},
			wantTotals:   []string{"USD|0|14.250|14.250"},
		},
		{
			name:      "quantity_mismatch, positive margin",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "3", "30.00", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "4", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{"quantity_mismatch|A|S1|Recurring|" + oct + "|USD|q 3/4|a 30.00/40.00|"},
		},
		{
			name:      "equal quantities with different scales are equal",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "3", "30.00", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "3.000", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{},
		},
		{
			name:      "negative margin of exactly -0.01 is within tolerance",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "1", "10.01", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{},
		},
		{
			name:      "negative margin of -0.011 is flagged",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "1", "10.011", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{"negative_margin|A|S1|Recurring|" + oct + "|USD|q 1/1|a 10.011/10.00|"},
		},
		{
			name:      "custom tolerance 0.50: -0.50 passes, -0.51 flagged",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			opts: Options{Tolerance: engDec("0.50")},
			payables: []billing.PayableCharge{
				engPay("A", "S1", "1", "10.50", "USD"),
				engPay("A", "S2", "1", "10.51", "USD"),
			},
			receivables: map[string][]billing.ReceivableCharge{"A": {
				engRecv("S1", "1", "10.00", "USD"),
				engRecv("S2", "1", "10.00", "USD"),
			}},
			wantComplete: true,
			wantFindings: []string{"negative_margin|A|S2|Recurring|" + oct + "|USD|q 1/1|a 10.51/10.00|"},
		},
		{
			name:      "negative tolerance is read as its absolute value",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			opts:         Options{Tolerance: engDec("-0.50")},
			payables:     []billing.PayableCharge{engPay("A", "S1", "1", "10.50", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{},
		},
		{
			name:      "both quantity_mismatch and negative_margin on one key",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "5", "50.00", "USD")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "4", "10.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{
				"quantity_mismatch|A|S1|Recurring|" + oct + "|USD|q 5/4|a 50.00/40.00|",
				"negative_margin|A|S1|Recurring|" + oct + "|USD|q 5/4|a 50.00/40.00|",
			},
		},
		{
			name:      "two lines with one key are one aggregate",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables: []billing.PayableCharge{
				engPay("A", "S1", "2", "20.00", "USD"),
				engPay("A", "S1", "3", "30.00", "USD"),
			},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "5", "10.5", "USD")}},
			wantComplete: true,
			wantFindings: []string{},
			wantTotals:   []string{"USD|50.00|52.5|2.50"},
			wantProducts: []string{"S1|Product S1|USD|q 5/5|50.00|52.5|2.50"},
		},
		{
			name:      "two aggregated lines, quantity sum differs",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables: []billing.PayableCharge{
				engPay("A", "S1", "2", "20.00", "USD"),
				engPay("A", "S1", "3", "30.00", "USD"),
			},
			receivables: map[string][]billing.ReceivableCharge{"A": {
				engRecv("S1", "2", "10.5", "USD"), engRecv("S1", "2", "10.5", "USD"),
			}},
			wantComplete: true,
			wantFindings: []string{
				"quantity_mismatch|A|S1|Recurring|" + oct + "|USD|q 5/4|a 50.00/42.0|",
				"negative_margin|A|S1|Recurring|" + oct + "|USD|q 5/4|a 50.00/42.0|",
			},
		},
		{
			name:      "different line periods are different keys",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPayPeriod("A", "S1", "2", "7.85", "USD", "2026-10-16", "2026-10-31")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "2", "3.925", "USD")}},
			wantComplete: true,
			wantFindings: []string{
				"unbilled|A|S1|Recurring|2026-10-16..2026-10-31|USD|q 2/0|a 7.85/0|",
				"unexpected_receivable|A|S1|Recurring|" + oct + "|USD|q 0/2|a 0/7.850|",
			},
		},
		{
			name:      "different charge types are different keys",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables: []billing.PayableCharge{func() billing.PayableCharge {
				c := engPay("A", "S1", "1", "5.00", "USD")
				c.ChargeType = "Setup"
				return c
			}()},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "5.00", "USD")}},
			wantComplete: true,
			wantFindings: []string{
				"unbilled|A|S1|Setup|" + oct + "|USD|q 1/0|a 5.00/0|",
				"unexpected_receivable|A|S1|Recurring|" + oct + "|USD|q 0/1|a 0/5.00|",
			},
		},
		{
			name:      "currencies are never added",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables: []billing.PayableCharge{
				engPay("A", "S1", "1", "10.00", "USD"),
				engPay("A", "S1", "1", "13.00", "CAD"),
			},
			receivables: map[string][]billing.ReceivableCharge{"A": {
				engRecv("S1", "1", "12.00", "USD"),
				engRecv("S1", "1", "15.00", "CAD"),
				engRecv("S2", "1", "1.00", "EUR"),
			}},
			wantComplete: true,
			wantFindings: []string{"unexpected_receivable|A|S2|Recurring|" + oct + "|EUR|q 0/1|a 0/1.00|"},
			wantTotals:   []string{"CAD|13.00|15.00|2.00", "EUR|0|1.00|1.00", "USD|10.00|12.00|2.00"},
			wantCustomers: []string{
				"A|Name A|CAD|13.00|15.00|2.00|true",
				"A|Name A|EUR|0|1.00|1.00|true",
				"A|Name A|USD|10.00|12.00|2.00|true",
			},
			wantProducts: []string{
				"S1|Product S1|CAD|q 1/1|13.00|15.00|2.00",
				"S1|Product S1|USD|q 1/1|10.00|12.00|2.00",
				"S2|Product S2|EUR|q 0/1|0|1.00|1.00",
			},
		},
		{
			name:      "currency codes are trimmed and upper-cased",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables:     []billing.PayableCharge{engPay("A", "S1", "1", "10.00", " usd")},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "12.00", "USD ")}},
			wantComplete: true,
			wantFindings: []string{},
			wantTotals:   []string{"USD|10.00|12.00|2.00"},
		},
		{
			name:      "customers sorted by id, then currency; a row per pair with a line",
			customers: engCustomers("B", "A", "C"), coverage: engAvailable("A", "B", "C"),
			payables: []billing.PayableCharge{
				engPay("B", "S1", "1", "1", "USD"),
				engPay("A", "S1", "1", "1", "USD"),
				engPay("A", "S1", "1", "1", "CAD"),
			},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "1", "USD")}},
			wantComplete: true,
			wantCustomers: []string{
				"A|Name A|CAD|1|0|-1|true",
				"A|Name A|USD|1|1|0|true",
				"B|Name B|USD|1|0|-1|true",
			},
		},
		{
			name:      "product name is the smallest non-empty one",
			customers: engCustomers("A"), coverage: engAvailable("A"),
			payables: []billing.PayableCharge{
				func() billing.PayableCharge {
					c := engPay("A", "S1", "1", "1", "USD")
					c.ProductName = "Zeta"
					return c
				}(),
				func() billing.PayableCharge { c := engPay("A", "S1", "1", "1", "USD"); c.ProductName = ""; return c }(),
			},
			receivables: map[string][]billing.ReceivableCharge{"A": {func() billing.ReceivableCharge {
				c := engRecv("S1", "2", "1", "USD")
				c.ProductName = "Alpha"
				return c
			}()}},
			wantComplete: true,
			wantProducts: []string{"S1|Alpha|USD|q 2/2|2|2|0"},
		},
		{
			name:      "receivables of an unknown customer are ignored",
			customers: engCustomers("A"), coverage: engAvailable("A", "X"),
			receivables:  map[string][]billing.ReceivableCharge{"X": {engRecv("S1", "1", "1", "USD")}},
			wantComplete: true,
			wantFindings: []string{},
			wantTotals:   []string{},
			wantMissing:  []string{}, wantAvailable: 1,
		},
		{
			name:      "receivable customer id matched case-insensitively",
			customers: engCustomers("abc"), coverage: engAvailable("ABC"),
			payables:      []billing.PayableCharge{engPay("ABC", "S1", "1", "1.00", "USD")},
			receivables:   map[string][]billing.ReceivableCharge{"ABC": {engRecv("S1", "1", "1.00", "USD")}},
			wantComplete:  true,
			wantFindings:  []string{},
			wantCustomers: []string{"abc|Name abc|USD|1.00|1.00|0.00|true"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func TestReconcileUnattributed(t *testing.T) {
	tests := []engCase{
		{
			name:      "one finding per unattributed line, in totals but no customer or product row",
			customers: []billing.Customer{{ID: "A", DisplayName: "Same"}, {ID: "B", DisplayName: "Same"}},
			coverage:  engAvailable("A", "B"),
			payables: []billing.PayableCharge{
				engPay("", "S1", "1", "10.00", "USD"),
				engPay("", "S1", "1", "10.00", "USD"),
				engPay("Z", "S2", "2", "4.50", "USD"),
				func() billing.PayableCharge {
					c := engPay("", "S3", "1", "1", "USD")
					c.Tags = engTags("customerDisplayName", " Same ")
					return c
				}(),
				engPay("A", "S1", "1", "10.00", "USD"),
			},
			receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "1", "11", "USD")}},
			wantComplete: true,
			wantFindings: []string{
				"unattributed||S1|Recurring|" + oct + "|USD|q 1/0|a 10.00/0|no_customer_tag",
				"unattributed||S1|Recurring|" + oct + "|USD|q 1/0|a 10.00/0|no_customer_tag",
				"unattributed||S2|Recurring|" + oct + "|USD|q 2/0|a 4.50/0|unknown_customer",
				"unattributed||S3|Recurring|" + oct + "|USD|q 1/0|a 1/0|ambiguous_name",
			},
			wantTotals:    []string{"USD|35.50|11|-24.50"},
			wantCustomers: []string{"A|Same|USD|10.00|11|1.00|true"},
			wantProducts:  []string{"S1|Product S1|USD|q 1/1|10.00|11|1.00"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func TestReconcileCoverage(t *testing.T) {
	sep := billing.Period{From: "2026-09-01", To: "2026-09-30"}
	tests := []engCase{
		{
			name:      "fetch_failed: finding with payable sum, no line findings, receivables ignored, payables counted",
			customers: engCustomers("A", "B"),
			coverage: append(engAvailable("A"),
				Coverage{CustomerID: "B", Status: billing.CoverageFetchFailed, Error: "GET …: 500"}),
			payables: []billing.PayableCharge{
				engPay("A", "S1", "1", "10.00", "USD"),
				engPay("B", "S1", "1", "10.00", "USD"),
				engPay("B", "S2", "2", "5.5", "USD"),
			},
			receivables: map[string][]billing.ReceivableCharge{
				"A": {engRecv("S1", "1", "10.00", "USD")},
				"B": {engRecv("S9", "1", "99", "USD")},
			},
			wantComplete: false,
			wantFindings: []string{"missing_receivables|B|||..|USD|q 0/0|a 15.50/0|fetch_failed"},
			wantTotals:   []string{"USD|25.50|10.00|-15.50"},
			wantCustomers: []string{
				"A|Name A|USD|10.00|10.00|0.00|true",
				"B|Name B|USD|15.50|0|-15.50|false",
			},
			wantProducts: []string{
				"S1|Product S1|USD|q 2/1|20.00|10.00|-10.00",
				"S2|Product S2|USD|q 2/0|5.5|0|-5.5",
			},
			wantMissing: []string{"B|fetch_failed"}, wantAvailable: 1,
		},
		{
			name:      "period_differs: available with another period; run stays complete",
			customers: engCustomers("A"),
			coverage:  []Coverage{{CustomerID: "A", Status: billing.CoverageAvailable, Period: sep}},
			payables:  []billing.PayableCharge{engPay("A", "S1", "1", "10.00", "USD")},
			receivables: map[string][]billing.ReceivableCharge{
				"A": {engRecvPeriod("S1", "1", "10.00", "USD", sep.From, sep.To)},
			},
			wantComplete:  true,
			wantFindings:  []string{"missing_receivables|A|||..|USD|q 0/0|a 10.00/0|period_differs"},
			wantTotals:    []string{"USD|10.00|0|-10.00"},
			wantCustomers: []string{"A|Name A|USD|10.00|0|-10.00|false"},
			wantMissing:   []string{"A|period_differs"}, wantAvailable: 0,
		},
		{
			name:         "period_differs status as given",
			customers:    engCustomers("A"),
			coverage:     []Coverage{{CustomerID: "A", Status: billing.CoveragePeriodDiffers, Period: sep}},
			wantComplete: true,
			wantFindings: []string{"missing_receivables|A|||..||q 0/0|a 0/0|period_differs"},
			wantMissing:  []string{"A|period_differs"}, wantAvailable: 0,
		},
		{
			name:         "no coverage entry: fetch_failed, zero finding without currency",
			customers:    engCustomers("A", "B"),
			coverage:     engAvailable("A"),
			wantComplete: false,
			wantFindings: []string{"missing_receivables|B|||..||q 0/0|a 0/0|fetch_failed"},
			wantTotals:   []string{},
			wantMissing:  []string{"B|fetch_failed"}, wantAvailable: 1,
		},
		{
			name:      "missing customer with two currencies: one finding per currency",
			customers: engCustomers("A"),
			coverage:  []Coverage{{CustomerID: "A", Status: billing.CoverageFetchFailed}},
			payables: []billing.PayableCharge{
				engPay("A", "S1", "1", "10.00", "USD"),
				engPay("A", "S1", "1", "13.00", "CAD"),
			},
			wantComplete: false,
			wantFindings: []string{
				"missing_receivables|A|||..|CAD|q 0/0|a 13.00/0|fetch_failed",
				"missing_receivables|A|||..|USD|q 0/0|a 10.00/0|fetch_failed",
			},
		},
		{
			name:      "several entries for one customer: the worst wins",
			customers: engCustomers("A"),
			coverage: append(engAvailable("A"),
				Coverage{CustomerID: "A", Status: billing.CoverageFetchFailed, Error: "timeout"},
				Coverage{CustomerID: "A", Status: billing.CoverageAvailable, Period: sep}),
			wantComplete: false,
			wantMissing:  []string{"A|fetch_failed"}, wantAvailable: 0,
		},
		{
			name:         "payable fetch not ok: incomplete",
			customers:    engCustomers("A"),
			coverage:     engAvailable("A"),
			payableFail:  true,
			wantComplete: false,
			wantFindings: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func TestReconcileSubtotalIdentity(t *testing.T) {
	withNet := func(cust, qty, npp, sub string) billing.PayableCharge {
		c := engPay(cust, "S1", qty, sub, "USD")
		c.NetPriceProrated = engND(npp)
		return c
	}
	tc := engCase{
		customers: engCustomers("A"), coverage: engAvailable("A"),
		payables: []billing.PayableCharge{
			withNet("A", "2", "4.99", "9.99"),  // off by 0.01: fine
			withNet("A", "2", "4.99", "10.00"), // off by 0.02: flagged
			withNet("", "1", "1.00", "0.90"),   // unattributed and flagged
		},
		receivables:  map[string][]billing.ReceivableCharge{"A": {engRecv("S1", "4", "5", "USD")}},
		wantComplete: true,
		wantFindings: []string{
			"unattributed||S1|Recurring|" + oct + "|USD|q 1/0|a 0.90/0|no_customer_tag",
			// within a kind: largest absolute difference first
			"subtotal_identity|A|S1|Recurring|" + oct + "|USD|q 2/0|a 10.00/0|subTotal 10.00 differs from quantity × netPriceProrated = 9.98 by 0.02",
			"subtotal_identity||S1|Recurring|" + oct + "|USD|q 1/0|a 0.90/0|subTotal 0.90 differs from quantity × netPriceProrated = 1.00 by -0.10",
		},
		wantTotals: []string{"USD|20.89|20|-0.89"},
	}
	r := tc.run(t)
	counts := r.FindingCounts()
	want := []KindCount{{KindMissingReceivables, 0}, {KindUnattributed, 1}, {KindUnbilled, 0},
		{KindUnexpectedReceivable, 0}, {KindQuantityMismatch, 0}, {KindNegativeMargin, 0}, {KindSubtotalIdentity, 2}}
	if !slices.Equal(counts, want) {
		t.Errorf("FindingCounts = %v, want %v", counts, want)
	}
}

func TestReconcilerStreamingEqualsReconcile(t *testing.T) {
	in := Input{RunID: "r", Period: engPeriod, Customers: engCustomers("A", "B"), Coverage: engAvailable("A", "B"), PayableOK: true}
	pays := []billing.PayableCharge{engPay("A", "S1", "1", "1.00", "USD"), engPay("", "S2", "1", "2.00", "USD")}
	recs := map[string][]billing.ReceivableCharge{"B": {engRecv("S1", "1", "1", "USD")}}
	want := engJSON(t, Reconcile(in, pays, recs, Options{}))

	r := NewReconciler(in, Options{})
	r.AddReceivable("B", &recs["B"][0]) // receivables first: order must not matter
	for i := range pays {
		r.AddPayable(&pays[i])
	}
	first := engJSON(t, r.Result())
	if first != want {
		t.Errorf("streaming result differs:\n%s\nwant\n%s", first, want)
	}
	if again := engJSON(t, r.Result()); again != first {
		t.Errorf("second Result() differs from the first")
	}
	res := r.Result()
	if id, name, reason := r.Attributor().Attribute(&pays[0]); id != "A" || name != "Name A" || reason != "" {
		t.Errorf("Reconciler.Attributor().Attribute = %q %q %q", id, name, reason)
	}
	if res.PayableLines != 2 || res.ReceivableLines != 1 {
		t.Errorf("lines = %d/%d, want 2/1", res.PayableLines, res.ReceivableLines)
	}
	if got := billing.Text(res.Tolerance); got != "0.01" {
		t.Errorf("default tolerance = %s, want 0.01", got)
	}
}

// engRandomDataset builds a random but valid dataset from a seed: a few
// customers (some sharing a name, one unnamed), every coverage outcome,
// payable lines with every kind of tag, receivables of known, unknown and
// missing customers, several currencies (with casing variants), periods and
// decimal scales.
func engRandomDataset(seed1, seed2 uint64) (Input, []billing.PayableCharge, map[string][]billing.ReceivableCharge) {
	rng := rand.New(rand.NewPCG(seed1, seed2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	num := func(maxInt int, scales ...int32) string {
		scale := scales[rng.IntN(len(scales))]
		v := decimal.New(rng.Int64N(int64(maxInt)*1000), -3)
		if rng.IntN(10) == 0 {
			v = v.Neg() // credits happen
		}
		return billing.Text(v.Truncate(scale))
	}
	periods := []billing.Period{engPeriod, {From: "2026-10-16", To: "2026-10-31"}, {From: "2026-10-01", To: "2027-09-30"}}
	in := Input{RunID: "fuzz", Period: engPeriod, PayableOK: rng.IntN(8) != 0}
	nCust := 1 + rng.IntN(5)
	for i := 0; i < nCust; i++ {
		id := fmt.Sprintf("cust-%d", i)
		in.Customers = append(in.Customers, billing.Customer{ID: id, DisplayName: pick("Acme", "Beta", "Beta", "Gamma "+id, "")})
		switch rng.IntN(6) {
		case 0:
			in.Coverage = append(in.Coverage, Coverage{CustomerID: id, Status: billing.CoverageFetchFailed, Error: "boom"})
		case 1:
			in.Coverage = append(in.Coverage, Coverage{CustomerID: id, Status: billing.CoverageAvailable, Period: periods[1]})
		case 2:
			// no coverage entry
		default:
			in.Coverage = append(in.Coverage, Coverage{CustomerID: id, Status: billing.CoverageAvailable, Period: engPeriod})
		}
	}
	skus := []string{"S1", "S2", "S3"}
	line := func() (sku, ct string, p billing.Period, cur string) {
		return pick(skus...), pick("Recurring", "Usage"), periods[rng.IntN(len(periods))], pick("USD", "USD", "CAD", "usd ")
	}
	var pays []billing.PayableCharge
	for n := rng.IntN(40); n > 0; n-- {
		sku, ct, p, cur := line()
		c := billing.PayableCharge{
			SKU: sku, ProductName: pick("", "Name "+sku, "Other "+sku), ChargeType: ct,
			PeriodFrom: p.From, PeriodTo: p.To, Currency: cur,
			Quantity: engND(num(20, 0, 0, 2)), SubTotal: engND(num(500, 2, 2, 3, 4)),
		}
		cust := in.Customers[rng.IntN(nCust)]
		switch rng.IntN(7) {
		case 0:
			c.Tags = engTags("CustomerId", cust.ID)
		case 1:
			c.Tags = engTags("customerid", strings.ToUpper(cust.ID), "Other", "x")
		case 2:
			c.Tags = engTags("CustomerDisplayName", "  "+cust.DisplayName)
		case 3:
			c.Tags = engTags("CustomerId", "nobody", "CustomerDisplayName", cust.DisplayName)
		case 4:
			c.Tags = engTags("CustomerId", "nobody")
		case 5:
			c.Tags = []billing.Tag{{}}
		}
		pays = append(pays, c)
	}
	recs := map[string][]billing.ReceivableCharge{}
	for n := rng.IntN(40); n > 0; n-- {
		sku, ct, p, cur := line()
		id := pick(in.Customers[rng.IntN(nCust)].ID, in.Customers[rng.IntN(nCust)].ID, "stranger")
		recs[id] = append(recs[id], billing.ReceivableCharge{
			SKU: sku, ProductName: pick("", "Name "+sku), ChargeType: ct,
			PeriodFrom: p.From, PeriodTo: p.To, Currency: cur,
			Quantity: engND(num(20, 0, 1)), CostPriceProrated: engND(num(50, 2, 4)),
		})
	}
	return in, pays, recs
}

// FuzzReconcile checks the invariants of the rules on random datasets: every
// payable line ends in exactly one place, totals add up exactly per currency,
// margins are receivable − payable everywhere, and the result does not depend
// on the order of the input.
func FuzzReconcile(f *testing.F) {
	for i := uint64(0); i < 64; i++ {
		f.Add(i, i*7919+1)
	}
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) {
		in, pays, recs := engRandomDataset(seed1, seed2)
		res := Reconcile(in, pays, recs, Options{})

		status := map[string]billing.Coverage{}
		for _, m := range res.Coverage.Missing {
			status[m.CustomerID] = m.Reason
		}
		avail := func(id string) bool {
			if _, missing := status[id]; missing {
				return false
			}
			return slices.ContainsFunc(in.Customers, func(c billing.Customer) bool { return c.ID == id })
		}

		// Independent sums from the raw lines.
		type sums struct{ pay, rec, rowsPay, rowsRec, unattr, prodPay, prodRec decimal.Decimal }
		by := map[string]*sums{}
		get := func(cur string) *sums {
			if by[cur] == nil {
				by[cur] = &sums{}
			}
			return by[cur]
		}
		attr := NewAttributor(in.Customers)
		unattributedLines := 0
		for i := range pays {
			s := get(NormalizeCurrency(pays[i].Currency))
			s.pay = s.pay.Add(pays[i].Amount())
			if id, _, _ := attr.Attribute(&pays[i]); id == "" {
				unattributedLines++
			}
		}
		for id, lines := range recs {
			if !avail(id) {
				continue
			}
			for i := range lines {
				s := get(NormalizeCurrency(lines[i].Currency))
				s.rec = s.rec.Add(lines[i].Amount())
			}
		}
		for _, c := range res.Customers {
			s := get(c.Currency)
			s.rowsPay = s.rowsPay.Add(c.Payable)
			s.rowsRec = s.rowsRec.Add(c.Receivable)
			if !c.Margin.Equal(c.Receivable.Sub(c.Payable)) {
				t.Errorf("customer row %s %s: margin %s != receivable − payable", c.CustomerID, c.Currency, billing.Text(c.Margin))
			}
			if c.Available != avail(c.CustomerID) {
				t.Errorf("customer row %s: Available = %t", c.CustomerID, c.Available)
			}
		}
		for _, p := range res.Products {
			s := get(p.Currency)
			s.prodPay = s.prodPay.Add(p.Payable)
			s.prodRec = s.prodRec.Add(p.Receivable)
			if !p.Margin.Equal(p.Receivable.Sub(p.Payable)) {
				t.Errorf("product row %s %s: margin wrong", p.SKU, p.Currency)
			}
		}
		gotUnattributed := 0
		for i := range res.Mismatches {
			f := &res.Mismatches[i]
			if f.Kind == KindUnattributed {
				gotUnattributed++
				get(f.Currency).unattr = get(f.Currency).unattr.Add(f.PayableAmount)
				if f.CustomerID != "" || f.Reason == "" {
					t.Errorf("unattributed finding with customer %q, reason %q", f.CustomerID, f.Reason)
				}
			}
			switch f.Kind {
			case KindUnbilled, KindUnexpectedReceivable, KindQuantityMismatch, KindNegativeMargin:
				if !avail(f.CustomerID) {
					t.Errorf("%s finding for customer %s whose receivables are missing", f.Kind, f.CustomerID)
				}
			}
			if f.Kind == KindNegativeMargin && f.Difference().Cmp(engDec("-0.01")) >= 0 {
				t.Errorf("negative_margin with difference %s", billing.Text(f.Difference()))
			}
		}
		if gotUnattributed != unattributedLines {
			t.Errorf("unattributed findings = %d, unattributed lines = %d", gotUnattributed, unattributedLines)
		}
		if len(res.Totals) != len(by) {
			t.Errorf("%d totals, %d currencies seen", len(res.Totals), len(by))
		}
		for _, tot := range res.Totals {
			s := get(tot.Currency)
			if !tot.Margin.Equal(tot.Receivable.Sub(tot.Payable)) {
				t.Errorf("%s: total margin wrong", tot.Currency)
			}
			if billing.Text(tot.Payable) != billing.Text(s.pay) {
				t.Errorf("%s: total payable %s, Σ lines %s", tot.Currency, billing.Text(tot.Payable), billing.Text(s.pay))
			}
			if sum := s.rowsPay.Add(s.unattr); billing.Text(sum) != billing.Text(tot.Payable) {
				t.Errorf("%s: Σ customer rows + Σ unattributed = %s, total payable %s", tot.Currency, billing.Text(sum), billing.Text(tot.Payable))
			}
			if sum := s.prodPay.Add(s.unattr); !sum.Equal(tot.Payable) {
				t.Errorf("%s: Σ product rows + Σ unattributed = %s, total payable %s", tot.Currency, billing.Text(sum), billing.Text(tot.Payable))
			}
			if !s.rec.Equal(tot.Receivable) || !s.rowsRec.Equal(tot.Receivable) || !s.prodRec.Equal(tot.Receivable) {
				t.Errorf("%s: total receivable %s, Σ available lines %s, Σ rows %s, Σ products %s", tot.Currency,
					billing.Text(tot.Receivable), billing.Text(s.rec), billing.Text(s.rowsRec), billing.Text(s.prodRec))
			}
		}

		// Shuffled input (order of payables, customers, coverage, and
		// receivables fed in another customer order) gives the same bytes.
		want := engJSON(t, res)
		rng := rand.New(rand.NewPCG(seed2, seed1))
		in2 := in
		in2.Customers = slices.Clone(in.Customers)
		in2.Coverage = slices.Clone(in.Coverage)
		pays2 := slices.Clone(pays)
		rng.Shuffle(len(in2.Customers), func(i, j int) { in2.Customers[i], in2.Customers[j] = in2.Customers[j], in2.Customers[i] })
		rng.Shuffle(len(in2.Coverage), func(i, j int) { in2.Coverage[i], in2.Coverage[j] = in2.Coverage[j], in2.Coverage[i] })
		rng.Shuffle(len(pays2), func(i, j int) { pays2[i], pays2[j] = pays2[j], pays2[i] })
		type recLine struct {
			id string
			c  billing.ReceivableCharge
		}
		var all []recLine
		for id, lines := range recs {
			for _, c := range lines {
				all = append(all, recLine{id, c})
			}
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		r2 := NewReconciler(in2, Options{})
		for len(pays2)+len(all) > 0 { // interleave both sides
			if len(all) == 0 || (len(pays2) > 0 && rng.IntN(2) == 0) {
				r2.AddPayable(&pays2[0])
				pays2 = pays2[1:]
			} else {
				r2.AddReceivable(all[0].id, &all[0].c)
				all = all[1:]
			}
		}
		if got := engJSON(t, r2.Result()); got != want {
			t.Errorf("shuffled input gives another result:\n%s\nwant\n%s", got, want)
		}
	})
}
