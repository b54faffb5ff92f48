package job

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// FetchSummary is the JSON written by `reconcile fetch --json`. Its
// coverage object has the key names of `reconcile run --json`'s.
type FetchSummary struct {
	RunID      string            `json:"run_id"`
	Status     string            `json:"status"`
	Period     periodJSON        `json:"period"`
	Complete   bool              `json:"complete"`
	Coverage   coverageSummary   `json:"coverage"`
	Payable    payableSummary    `json:"payable"`
	Receivable receivableSummary `json:"receivable"`
	Calls      int64             `json:"calls"`
	Retries    int64             `json:"retries"`
	Error      string            `json:"error,omitempty"`
}

// coverageSummary is run --json's "coverage": how many customers, whose
// receivables were available, and which are missing and why.
type coverageSummary struct {
	Customers            int               `json:"customers"`
	ReceivablesAvailable int               `json:"receivables_available"`
	ReceivablesMissing   []missingCustomer `json:"receivables_missing"`
}

type periodJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type payableSummary struct {
	Lines  int             `json:"lines"`
	Totals []currencyTotal `json:"totals"`
}

type currencyTotal struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

type receivableSummary struct {
	Lines int `json:"lines"`
}

type missingCustomer struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
	Error      string `json:"error,omitempty"`
}

// SummaryReader is what Summarize reads of the ledger. *ledger.Store
// implements it.
type SummaryReader interface {
	Customers(ctx context.Context, runID int64) ([]billing.Customer, error)
	Coverage(ctx context.Context, runID int64) ([]ledger.CustomerCoverage, error)
	EachPayableSubTotal(ctx context.Context, runID int64, fn func(currency string, subTotal decimal.NullDecimal) error) error
	CountReceivable(ctx context.Context, runID int64) (int, error)
}

// Summarize reads a stored run back and summarises what it holds: line
// counts, exact payable totals per currency and receivables coverage. It
// reads only the payable lines' currency and sub-total, and counts the
// receivable lines of the customers whose coverage is "available" (those a
// report reads): a W1M fetch's time after its fan-out went from 10.2 s,
// decoding every line, to 1.6 s.
func Summarize(ctx context.Context, store SummaryReader, run ledger.Run) (*FetchSummary, error) {
	s := &FetchSummary{
		RunID:    RunID(run.ID),
		Status:   string(run.Status),
		Period:   periodJSON{From: string(run.Period.From), To: string(run.Period.To)},
		Complete: run.Status == billing.RunComplete,
		Calls:    run.Calls,
		Retries:  run.Retries,
		Error:    run.Error,
		Payable:  payableSummary{Totals: []currencyTotal{}},
		Coverage: coverageSummary{ReceivablesMissing: []missingCustomer{}},
	}
	if run.Status == "failed" || run.Status == "running" {
		return s, nil
	}
	totals := map[string]decimal.Decimal{}
	if err := store.EachPayableSubTotal(ctx, run.ID, func(currency string, subTotal decimal.NullDecimal) error {
		s.Payable.Lines++
		cur := report.NormalizeCurrency(currency)
		totals[cur] = totals[cur].Add(subTotal.Decimal) // a line's Amount (null: zero, as PayableCharge.Amount)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read payable charges of run %d: %w", run.ID, err)
	}
	curs := make([]string, 0, len(totals))
	for c := range totals {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		s.Payable.Totals = append(s.Payable.Totals, currencyTotal{Currency: c, Amount: billing.Text(totals[c])})
	}
	customers, err := store.Customers(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read customers of run %d: %w", run.ID, err)
	}
	s.Coverage.Customers = len(customers)
	cov, err := store.Coverage(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", run.ID, err)
	}
	seen := map[string]bool{}
	for _, c := range cov {
		seen[c.CustomerID] = true
		if c.Coverage == billing.CoverageAvailable && c.Period.Equal(run.Period) {
			s.Coverage.ReceivablesAvailable++
			continue
		}
		reason := c.Coverage
		if reason == billing.CoverageAvailable {
			reason = billing.CoveragePeriodDiffers
		}
		s.Coverage.ReceivablesMissing = append(s.Coverage.ReceivablesMissing, missingCustomer{CustomerID: c.CustomerID, Reason: string(reason), Error: c.Error})
	}
	for _, c := range customers {
		if !seen[c.ID] {
			s.Coverage.ReceivablesMissing = append(s.Coverage.ReceivablesMissing, missingCustomer{CustomerID: c.ID, Reason: string(billing.CoverageFetchFailed), Error: "not fetched"})
		}
	}
	sort.Slice(s.Coverage.ReceivablesMissing, func(i, j int) bool {
		return s.Coverage.ReceivablesMissing[i].CustomerID < s.Coverage.ReceivablesMissing[j].CustomerID
	})
	received, err := store.CountReceivable(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	s.Receivable.Lines = received
	return s, nil
}

// WriteJSON writes the summary as indented JSON.
func (s *FetchSummary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
