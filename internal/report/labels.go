package report

import (
	"cmp"
	"slices"

	"github.com/shopspring/decimal"
)

// kindLabels are the plain-language labels of the finding kinds, for people
// (the Summary page, the Label column of the Mismatches sheet, the JSON
// finding_counts). The kind names stay the machine interface.
var kindLabels = map[string]string{
	KindMissingReceivables:   "Customer's receivables not fetched; lines not checked",
	KindUnattributed:         "Sherweb charge not matched to a customer",
	KindUnbilled:             "Billed by Sherweb, not billed to the customer",
	KindUnexpectedReceivable: "Billed to the customer, not billed by Sherweb",
	KindQuantityMismatch:     "Quantity billed to the customer differs from Sherweb's",
	KindNegativeMargin:       "Sold below cost (negative margin)",
	KindSubtotalIdentity:     "Sherweb line total differs from quantity × price",
	KindLicenceMismatch:      "Seats subscribed differ from seats billed (licence check)",
}

// KindLabel is the plain-language label of a finding kind; an unknown kind
// is its own label.
func KindLabel(kind string) string {
	if l, ok := kindLabels[kind]; ok {
		return l
	}
	return kind
}

// KindSummary is the findings of one kind: how many, and their amounts per
// currency.
type KindSummary struct {
	Kind       string
	Label      string
	Count      int
	ByCurrency []KindAmount // sorted by currency
}

// KindAmount is the findings of one kind in one currency. Difference is
// Σ (receivable − payable) of the findings.
type KindAmount struct {
	Currency   string
	Count      int
	Payable    decimal.Decimal
	Receivable decimal.Decimal
	Difference decimal.Decimal
}

// FindingSummary returns the findings per kind (the kinds of FindingCounts,
// in the same order) with their amounts per currency, summed exactly.
func (r *Result) FindingSummary() []KindSummary {
	counts := r.FindingCounts()
	out := make([]KindSummary, len(counts))
	idx := make(map[string]int, len(counts))
	for i, c := range counts {
		out[i] = KindSummary{Kind: c.Kind, Label: KindLabel(c.Kind), Count: c.Count, ByCurrency: []KindAmount{}}
		idx[c.Kind] = i
	}
	for i := range r.Mismatches {
		m := &r.Mismatches[i]
		ks := &out[idx[m.Kind]]
		j := slices.IndexFunc(ks.ByCurrency, func(a KindAmount) bool { return a.Currency == m.Currency })
		if j < 0 {
			ks.ByCurrency = append(ks.ByCurrency, KindAmount{Currency: m.Currency})
			j = len(ks.ByCurrency) - 1
		}
		a := &ks.ByCurrency[j]
		a.Count++
		a.Payable = a.Payable.Add(m.PayableAmount)
		a.Receivable = a.Receivable.Add(m.ReceivableAmount)
		a.Difference = a.Difference.Add(m.Difference())
	}
	for i := range out {
		slices.SortFunc(out[i].ByCurrency, func(a, b KindAmount) int { return cmp.Compare(a.Currency, b.Currency) })
	}
	return out
}

// LargestFindings returns up to n findings with the largest absolute
// difference (receivable − payable), largest first. Amounts of different
// currencies are compared as numbers, unconverted; ties keep the order of
// Result.Mismatches.
func (r *Result) LargestFindings(n int) []Finding {
	idx := make([]int, len(r.Mismatches))
	abs := make([]decimal.Decimal, len(r.Mismatches))
	for i := range r.Mismatches {
		idx[i] = i
		abs[i] = r.Mismatches[i].Difference().Abs()
	}
	slices.SortStableFunc(idx, func(a, b int) int { return abs[b].Cmp(abs[a]) })
	if len(idx) > n {
		idx = idx[:n]
	}
	out := make([]Finding, len(idx))
	for i, x := range idx {
		out[i] = r.Mismatches[x]
	}
	return out
}
