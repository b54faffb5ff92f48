package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// The JSON summary's shape. Field order is the output order. Keys of the rules
// document are never renamed or dropped; the extra keys are marked.

type jsonSummary struct {
	Period          jsonPeriod        `json:"period"`
	RunID           string            `json:"run_id"`
	Complete        bool              `json:"complete"`
	Coverage        jsonCoverage      `json:"coverage"`
	Totals          []jsonTotal       `json:"totals"`
	Customers       []jsonCustomer    `json:"customers"`
	Mismatches      []jsonFinding     `json:"mismatches"`
	Products        []jsonProduct     `json:"products"`         // extra
	FindingCounts   []jsonFindingKind `json:"finding_counts"`   // extra
	Tolerance       string            `json:"tolerance"`        // extra
	PayableLines    int               `json:"payable_lines"`    // extra
	ReceivableLines int               `json:"receivable_lines"` // extra
	Commitments     *jsonCommitments  `json:"commitments,omitempty"`
}

type jsonPeriod struct {
	From billing.Date `json:"from"`
	To   billing.Date `json:"to"`
}

type jsonCoverage struct {
	Customers            int           `json:"customers"`
	ReceivablesAvailable int           `json:"receivables_available"`
	ReceivablesMissing   []jsonMissing `json:"receivables_missing"`
}

type jsonMissing struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
	Error      string `json:"error,omitempty"` // extra
}

type jsonTotal struct {
	Currency   string `json:"currency"`
	Payable    string `json:"payable"`
	Receivable string `json:"receivable"`
	Margin     string `json:"margin"`
}

type jsonCustomer struct {
	CustomerID   string `json:"customer_id"`
	CustomerName string `json:"customer_name"`
	Currency     string `json:"currency"`
	Payable      string `json:"payable"`
	Receivable   string `json:"receivable"`
	Margin       string `json:"margin"`
	Available    bool   `json:"receivables_available"` // extra
}

type jsonFinding struct {
	Kind               string       `json:"kind"`
	CustomerID         string       `json:"customer_id"`
	SKU                string       `json:"sku"`
	ChargeType         string       `json:"charge_type"`
	PeriodFrom         billing.Date `json:"period_from"`
	PeriodTo           billing.Date `json:"period_to"`
	Currency           string       `json:"currency"`
	PayableQuantity    string       `json:"payable_quantity"`
	ReceivableQuantity string       `json:"receivable_quantity"`
	PayableAmount      string       `json:"payable_amount"`
	ReceivableAmount   string       `json:"receivable_amount"`
	Reason             string       `json:"reason"`
	CustomerName       string       `json:"customer_name"` // extra
	Product            string       `json:"product"`       // extra
	Difference         string       `json:"difference"`    // extra: receivable − payable
}

type jsonProduct struct {
	SKU                string `json:"sku"`
	Product            string `json:"product"`
	Currency           string `json:"currency"`
	PayableQuantity    string `json:"payable_quantity"`
	ReceivableQuantity string `json:"receivable_quantity"`
	Payable            string `json:"payable"`
	Receivable         string `json:"receivable"`
	Margin             string `json:"margin"`
}

type jsonFindingKind struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// KindCount is the number of findings of one kind.
type KindCount struct {
	Kind  string
	Count int
}

// FindingCounts returns the number of findings per kind: the six kinds of the
// rules always, in report order, then any extra (data-quality) kinds present,
// by name.
func (r *Result) FindingCounts() []KindCount {
	counts := map[string]int{}
	var extra []string
	for i := range r.Mismatches {
		k := r.Mismatches[i].Kind
		if _, ok := counts[k]; !ok && findingKindRank(k) == len(findingKindOrder) {
			extra = append(extra, k)
		}
		counts[k]++
	}
	sort.Strings(extra)
	kinds := append(FindingKinds(), extra...)
	out := make([]KindCount, len(kinds))
	for i, k := range kinds {
		out[i].Kind, out[i].Count = k, counts[k]
	}
	return out
}

// WriteJSON writes the machine-readable summary of the rules document: amounts
// as strings holding the exact decimal, arrays never null, keys in a fixed
// order, two-space indent, trailing newline. The same Result always gives the
// same bytes.
func (r *Result) WriteJSON(w io.Writer) error {
	s := jsonSummary{
		Period:          jsonPeriod{From: r.Period.From, To: r.Period.To},
		RunID:           r.RunID,
		Complete:        r.Complete,
		Totals:          make([]jsonTotal, 0, len(r.Totals)),
		Customers:       make([]jsonCustomer, 0, len(r.Customers)),
		Mismatches:      make([]jsonFinding, 0, len(r.Mismatches)),
		Products:        make([]jsonProduct, 0, len(r.Products)),
		FindingCounts:   []jsonFindingKind{},
		Tolerance:       jsonAmount(r.Tolerance),
		PayableLines:    r.PayableLines,
		ReceivableLines: r.ReceivableLines,
		Coverage: jsonCoverage{
			Customers:            r.Coverage.Customers,
			ReceivablesAvailable: r.Coverage.Available,
			ReceivablesMissing:   make([]jsonMissing, 0, len(r.Coverage.Missing)),
		},
	}
	for _, m := range r.Coverage.Missing {
		s.Coverage.ReceivablesMissing = append(s.Coverage.ReceivablesMissing,
			jsonMissing{CustomerID: m.CustomerID, Reason: string(m.Reason), Error: m.Error})
	}
	for _, t := range r.Totals {
		s.Totals = append(s.Totals, jsonTotal{
			Currency: t.Currency, Payable: jsonAmount(t.Payable),
			Receivable: jsonAmount(t.Receivable), Margin: jsonAmount(t.Margin),
		})
	}
	for _, c := range r.Customers {
		s.Customers = append(s.Customers, jsonCustomer{
			CustomerID: c.CustomerID, CustomerName: c.CustomerName, Currency: c.Currency,
			Payable: jsonAmount(c.Payable), Receivable: jsonAmount(c.Receivable),
			Margin: jsonAmount(c.Margin), Available: c.Available,
		})
	}
	for i := range r.Mismatches {
		f := &r.Mismatches[i]
		s.Mismatches = append(s.Mismatches, jsonFinding{
			Kind: f.Kind, CustomerID: f.CustomerID, SKU: f.SKU, ChargeType: f.ChargeType,
			PeriodFrom: f.PeriodFrom, PeriodTo: f.PeriodTo, Currency: f.Currency,
			PayableQuantity: jsonAmount(f.PayableQty), ReceivableQuantity: jsonAmount(f.ReceivableQty),
			PayableAmount: jsonAmount(f.PayableAmount), ReceivableAmount: jsonAmount(f.ReceivableAmount),
			Reason: f.Reason, CustomerName: f.CustomerName, Product: f.Product,
			Difference: jsonAmount(f.Difference()),
		})
	}
	for _, p := range r.Products {
		s.Products = append(s.Products, jsonProduct{
			SKU: p.SKU, Product: p.Product, Currency: p.Currency,
			PayableQuantity: jsonAmount(p.PayableQty), ReceivableQuantity: jsonAmount(p.ReceivableQty),
			Payable: jsonAmount(p.Payable), Receivable: jsonAmount(p.Receivable), Margin: jsonAmount(p.Margin),
		})
	}
	for _, fc := range r.FindingCounts() {
		s.FindingCounts = append(s.FindingCounts, jsonFindingKind{Kind: fc.Kind, Count: fc.Count})
	}

	s.Commitments = commitmentsJSON(r.Subscriptions)

	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
	}
	return nil
}

// jsonAmount is the exact text of a decimal (billing.Text), keeping its scale.
func jsonAmount(d decimal.Decimal) string { return billing.Text(d) }
