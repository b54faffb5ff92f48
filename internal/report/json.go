package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// The JSON summary's shape. Field order is the output order. Keys of the rules
// document are never renamed or dropped; the extra keys are marked.

// SchemaVersion is the version of the JSON summary's shape ("schema_version"):
// 1.1 adds schema_version, tool_version, invoices, the label, fingerprint,
// charge_id, invoice and tags of each mismatch, and the label and amounts of
// each finding_counts entry. Keys are only ever added.
const SchemaVersion = "1.1"

type jsonSummary struct {
	SchemaVersion   string               `json:"schema_version"` // extra
	ToolVersion     string               `json:"tool_version"`   // extra
	Period          jsonPeriod           `json:"period"`
	RunID           string               `json:"run_id"`
	Complete        bool                 `json:"complete"`
	Coverage        jsonCoverage         `json:"coverage"`
	Totals          []jsonTotal          `json:"totals"`
	Customers       []jsonCustomer       `json:"customers"`
	Mismatches      []jsonFinding        `json:"mismatches"`
	Products        []jsonProduct        `json:"products"`         // extra
	FindingCounts   []jsonFindingKind    `json:"finding_counts"`   // extra
	Invoices        []jsonInvoice        `json:"invoices"`         // extra
	Tolerance       string               `json:"tolerance"`        // extra
	PayableLines    int                  `json:"payable_lines"`    // extra
	ReceivableLines int                  `json:"receivable_lines"` // extra
	InternalUse     []jsonCurrencyAmount `json:"internal_use"`     // workflow rules: payable of internal-use lines
	MappingWarnings []jsonMappingWarning `json:"mapping_warnings"` // workflow rules
	StatusCounts    []jsonStatusCount    `json:"status_counts"`    // workflow rules
	Exceptions      []jsonException      `json:"exceptions"`       // workflow rules: register entries that applied
	Commitments     *jsonCommitments     `json:"commitments,omitempty"`
}

type jsonMappingWarning struct {
	Entry      string `json:"entry"`
	Tag        string `json:"tag"`
	Value      string `json:"value"`
	CustomerID string `json:"customer_id,omitempty"`
	Line       int    `json:"line,omitempty"`
	Problem    string `json:"problem"`
}

type jsonStatusCount struct {
	Status string               `json:"status"`
	Count  int                  `json:"count"`
	Sums   []jsonCurrencyAmount `json:"sums"`
}

type jsonCurrencyAmount struct {
	Currency string `json:"currency"`
	Count    int    `json:"count"`
	Amount   string `json:"amount"`
}

type jsonException struct {
	ID          int64  `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	By          string `json:"by"`
	At          string `json:"at"`
	Amount      string `json:"amount_at_acceptance"`
	AmountNow   string `json:"amount_now"`
	Band        string `json:"band"`
	Until       string `json:"until"`
	RunID       int64  `json:"accepted_from_run"`
	Findings    int    `json:"findings"`
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
	Label              string       `json:"label"`         // extra: plain-language kind
	Fingerprint        string       `json:"fingerprint"`   // extra: comparison-rules fingerprint
	ChargeID           string       `json:"charge_id"`     // extra: per-line findings
	Invoice            string       `json:"invoice"`       // extra: per-line findings
	Tags               string       `json:"tags"`          // extra: per-line findings, "Name=Value; …"
	Status             string       `json:"status"`        // workflow rules: open, accepted, reopened
	AcceptanceID       int64        `json:"acceptance_id,omitempty"`
	AcceptedReason     string       `json:"accepted_reason,omitempty"`
	AcceptedAmount     string       `json:"accepted_amount,omitempty"` // the group's amount at acceptance
}

type jsonInvoice struct {
	Invoice  string       `json:"invoice"` // "" for the lines with no invoice
	Date     billing.Date `json:"date"`
	Currency string       `json:"currency"`
	Lines    int          `json:"lines"`
	Payable  string       `json:"payable"`
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
	Kind    string             `json:"kind"`
	Count   int                `json:"count"`
	Label   string             `json:"label"`   // 1.1
	Amounts []jsonFindingMoney `json:"amounts"` // 1.1: per currency
}

type jsonFindingMoney struct {
	Currency   string `json:"currency"`
	Count      int    `json:"count"`
	Payable    string `json:"payable_amount"`
	Receivable string `json:"receivable_amount"`
	Difference string `json:"difference"`
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
	// Buffered: the findings are encoded one at a time (below), and each
	// would otherwise be a write system call of ≈ 640 bytes (W1M: 50,000).
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := r.writeJSON(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
	}
	return nil
}

func (r *Result) writeJSON(w io.Writer) error {
	s := jsonSummary{
		SchemaVersion:   SchemaVersion,
		ToolVersion:     r.ToolVersion,
		Invoices:        make([]jsonInvoice, 0, len(r.Invoices)),
		Period:          jsonPeriod{From: r.Period.From, To: r.Period.To},
		RunID:           r.RunID,
		Complete:        r.Complete,
		Totals:          make([]jsonTotal, 0, len(r.Totals)),
		Customers:       make([]jsonCustomer, 0, len(r.Customers)),
		Mismatches:      []jsonFinding{}, // streamed: see below
		Products:        make([]jsonProduct, 0, len(r.Products)),
		FindingCounts:   []jsonFindingKind{},
		StatusCounts:    []jsonStatusCount{},
		InternalUse:     []jsonCurrencyAmount{},
		MappingWarnings: []jsonMappingWarning{},
		Exceptions:      []jsonException{},
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
	for _, a := range r.InternalUse {
		s.InternalUse = append(s.InternalUse, jsonCurrencyAmount{Currency: a.Currency, Count: a.Count, Amount: jsonAmount(a.Amount)})
	}
	for _, w := range r.MappingWarnings {
		s.MappingWarnings = append(s.MappingWarnings, jsonMappingWarning{
			Entry: w.Entry, Tag: w.Tag, Value: w.Value, CustomerID: w.CustomerID, Line: w.Line, Problem: w.Problem,
		})
	}
	for _, sc := range r.StatusCounts() {
		js := jsonStatusCount{Status: sc.Status, Count: sc.Count, Sums: []jsonCurrencyAmount{}}
		for _, a := range sc.Sums {
			js.Sums = append(js.Sums, jsonCurrencyAmount{Currency: a.Currency, Count: a.Count, Amount: jsonAmount(a.Amount)})
		}
		s.StatusCounts = append(s.StatusCounts, js)
	}
	for _, e := range r.Exceptions {
		s.Exceptions = append(s.Exceptions, jsonException{
			ID: e.ID, Fingerprint: e.Fingerprint, Status: e.Status, Reason: e.Reason, By: e.By, At: e.At,
			Amount: jsonAmount(e.Amount), AmountNow: jsonAmount(e.AmountNow), Band: jsonAmount(e.Band),
			Until: e.Until, RunID: e.RunID, Findings: e.Findings,
		})
	}
	for _, p := range r.Products {
		s.Products = append(s.Products, jsonProduct{
			SKU: p.SKU, Product: p.Product, Currency: p.Currency,
			PayableQuantity: jsonAmount(p.PayableQty), ReceivableQuantity: jsonAmount(p.ReceivableQty),
			Payable: jsonAmount(p.Payable), Receivable: jsonAmount(p.Receivable), Margin: jsonAmount(p.Margin),
		})
	}
	for _, ks := range r.FindingSummary() {
		fk := jsonFindingKind{Kind: ks.Kind, Count: ks.Count, Label: ks.Label, Amounts: make([]jsonFindingMoney, 0, len(ks.ByCurrency))}
		for _, a := range ks.ByCurrency {
			fk.Amounts = append(fk.Amounts, jsonFindingMoney{
				Currency: a.Currency, Count: a.Count, Payable: jsonAmount(a.Payable),
				Receivable: jsonAmount(a.Receivable), Difference: jsonAmount(a.Difference),
			})
		}
		s.FindingCounts = append(s.FindingCounts, fk)
	}
	for _, iv := range r.Invoices {
		s.Invoices = append(s.Invoices, jsonInvoice{
			Invoice: iv.Number, Date: iv.Date, Currency: iv.Currency, Lines: iv.Lines, Payable: jsonAmount(iv.Payable),
		})
	}

	s.Commitments = commitmentsJSON(r.Subscriptions)

	// Everything but the mismatches is encoded at once; the mismatches (one
	// per line key at worst) are encoded one at a time into the place of the
	// empty array, with the indent the whole document would give them, so
	// that the summary is never held in memory twice (W1M: 50,000 findings,
	// ≈ 110 MiB of live heap when encoded at once).
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
	}
	doc := head.Bytes()
	at := bytes.Index(doc, []byte(mismatchesKey))
	if at < 0 {
		return fmt.Errorf("write json summary for run %s: no %q in the encoded summary", r.RunID, mismatchesKey)
	}
	at += len(mismatchesKey) - 1 // at the ']' of "[]"
	if _, err := w.Write(doc[:at]); err != nil {
		return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
	}
	if len(r.Mismatches) > 0 {
		fe := newFindingEncoder() // an element of an array of the top-level object
		var elem []byte
		for i := range r.Mismatches {
			if i == 0 {
				elem = append(elem[:0], "\n    "...)
			} else {
				elem = append(elem[:0], ",\n    "...)
			}
			elem = fe.append(elem, jsonFindingOf(&r.Mismatches[i]))
			if _, err := w.Write(elem); err != nil {
				return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
			}
		}
		if _, err := io.WriteString(w, "\n  "); err != nil {
			return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
		}
	}
	if _, err := w.Write(doc[at:]); err != nil {
		return fmt.Errorf("write json summary for run %s: %w", r.RunID, err)
	}
	return nil
}

// mismatchesKey is the empty mismatches array as the indented encoding of a
// jsonSummary holds it: a key of the top-level object starts a line with two
// spaces, which no string value can hold (a newline in a string is escaped).
const mismatchesKey = "\n  \"mismatches\": []"

// jsonFindingOf is the JSON form of one finding.
func jsonFindingOf(f *Finding) *jsonFinding {
	jf := &jsonFinding{
		Kind: f.Kind, CustomerID: f.CustomerID, SKU: f.SKU, ChargeType: f.ChargeType,
		PeriodFrom: f.PeriodFrom, PeriodTo: f.PeriodTo, Currency: f.Currency,
		PayableQuantity: jsonAmount(f.PayableQty), ReceivableQuantity: jsonAmount(f.ReceivableQty),
		PayableAmount: jsonAmount(f.PayableAmount), ReceivableAmount: jsonAmount(f.ReceivableAmount),
		Reason: f.Reason, CustomerName: f.CustomerName, Product: f.Product,
		Difference: jsonAmount(f.Difference()), Status: f.StatusOrOpen(),
		Label: KindLabel(f.Kind), Fingerprint: Fingerprint(f),
		ChargeID: f.ChargeID, Invoice: f.Invoice, Tags: f.Tags,
	}
	if a := f.Acceptance; a != nil {
		jf.AcceptanceID, jf.AcceptedReason, jf.AcceptedAmount = a.ID, a.Reason, jsonAmount(a.Amount)
	}
	return jf
}

// jsonAmount is the exact text of a decimal (billing.Text), keeping its scale.
func jsonAmount(d decimal.Decimal) string { return billing.Text(d) }
