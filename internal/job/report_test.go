package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

// summaryJSON is the contract's JSON summary, decoded with amounts as text.
type summaryJSON struct {
	Period   struct{ From, To string }
	RunID    string `json:"run_id"`
	Complete bool
	Coverage struct {
		Customers            int
		ReceivablesAvailable int `json:"receivables_available"`
		ReceivablesMissing   []struct {
			CustomerID string `json:"customer_id"`
			Reason     string
		} `json:"receivables_missing"`
	}
	Totals []struct {
		Currency, Payable, Receivable, Margin string
	}
	Customers []struct {
		CustomerID                  string `json:"customer_id"`
		CustomerName                string `json:"customer_name"`
		Currency                    string
		Payable, Receivable, Margin string
	}
	Mismatches []struct {
		Kind               string
		CustomerID         string `json:"customer_id"`
		SKU                string
		ChargeType         string `json:"charge_type"`
		PeriodFrom         string `json:"period_from"`
		PeriodTo           string `json:"period_to"`
		Currency           string
		PayableQuantity    string `json:"payable_quantity"`
		ReceivableQuantity string `json:"receivable_quantity"`
		PayableAmount      string `json:"payable_amount"`
		ReceivableAmount   string `json:"receivable_amount"`
		Reason             string
	}
}

var sixKinds = map[string]bool{
	report.KindUnbilled: true, report.KindUnexpectedReceivable: true, report.KindQuantityMismatch: true,
	report.KindNegativeMargin: true, report.KindUnattributed: true, report.KindMissingReceivables: true,
}

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("amount %q in JSON: %v", s, err)
	}
	return d
}

func reconcileJSON(t *testing.T, e *env) summaryJSON {
	t.Helper()
	ctx := context.Background()
	run, err := e.fetch(t)
	if err != nil && run.ID == 0 {
		t.Fatalf("fetch: %v", err)
	}
	rec, err := job.Reconcile(ctx, e.store, run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rec.Result.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var s summaryJSON
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		t.Fatalf("JSON summary does not decode: %v\n%s", err, buf.String())
	}
	return s
}

// The JSON summary of a reconciliation of the simulator's data equals the
// truth the generator recorded while planting its scenarios.
func TestSummaryEqualsGeneratorTruth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults func(customers []billing.Customer) sherwebsim.Faults
	}{
		{"clean", func([]billing.Customer) sherwebsim.Faults { return sherwebsim.Faults{} }},
		{"one customer failing, one period differing", func(cs []billing.Customer) sherwebsim.Faults {
			return sherwebsim.Faults{FailCustomerAlways: []string{cs[1].ID}, PeriodDiffersFor: []string{cs[4].ID}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Faults = tc.faults(sherwebsim.New(cfg).Customers())
			e := newEnv(t, cfg)
			got := reconcileJSON(t, e)
			truth := e.sim.Truth(e.sim.DefaultPeriod())

			wantComplete := len(cfg.Faults.FailCustomerAlways) == 0
			if got.Complete != wantComplete {
				t.Errorf("complete = %v, want %v", got.Complete, wantComplete)
			}
			if got.Period.From != string(truth.Period.From) || got.Period.To != string(truth.Period.To) {
				t.Errorf("period = %+v, want %s", got.Period, truth.Period)
			}
			if got.Coverage.Customers != len(truth.Customers) {
				t.Errorf("coverage.customers = %d, want %d", got.Coverage.Customers, len(truth.Customers))
			}
			missing := len(cfg.Faults.FailCustomerAlways) + len(cfg.Faults.PeriodDiffersFor)
			if len(got.Coverage.ReceivablesMissing) != missing || got.Coverage.ReceivablesAvailable != len(truth.Customers)-missing {
				t.Errorf("coverage = %+v, want %d missing", got.Coverage, missing)
			}

			// Totals per currency.
			if len(got.Totals) != len(truth.PayableTotals) {
				t.Errorf("totals in %d currencies, want %d", len(got.Totals), len(truth.PayableTotals))
			}
			for _, tot := range got.Totals {
				p, r := dec(t, tot.Payable), dec(t, tot.Receivable)
				if !p.Equal(truth.PayableTotals[tot.Currency]) {
					t.Errorf("%s payable = %s, want %s", tot.Currency, tot.Payable, billing.Text(truth.PayableTotals[tot.Currency]))
				}
				if !r.Equal(truth.ReceivableTotals[tot.Currency]) {
					t.Errorf("%s receivable = %s, want %s", tot.Currency, tot.Receivable, billing.Text(truth.ReceivableTotals[tot.Currency]))
				}
				if !dec(t, tot.Margin).Equal(r.Sub(p)) {
					t.Errorf("%s margin = %s, want receivable − payable", tot.Currency, tot.Margin)
				}
			}

			// Customer rows.
			var gotRows, wantRows []string
			for _, c := range got.Customers {
				gotRows = append(gotRows, fmt.Sprintf("%s|%s|%s|%s", c.CustomerID, c.Currency, dec(t, c.Payable).String(), dec(t, c.Receivable).String()))
			}
			for _, c := range truth.CustomerRows {
				wantRows = append(wantRows, fmt.Sprintf("%s|%s|%s|%s", c.CustomerID, c.Currency, c.Payable.String(), c.Receivable.String()))
			}
			testkit.ErrorMultisetDiff(t, "customer rows", gotRows, wantRows)

			// Findings of the six contract kinds.
			var gotF, wantF []string
			for _, f := range got.Mismatches {
				if !sixKinds[f.Kind] {
					continue
				}
				gotF = append(gotF, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", f.Kind, f.CustomerID, f.SKU, f.ChargeType,
					f.PeriodFrom, f.PeriodTo, f.Currency, dec(t, f.PayableQuantity), dec(t, f.ReceivableQuantity),
					dec(t, f.PayableAmount), dec(t, f.ReceivableAmount))+"|"+f.Reason)
			}
			for _, f := range truth.Findings {
				wantF = append(wantF, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", f.Kind, f.CustomerID, f.SKU, f.ChargeType,
					f.PeriodFrom, f.PeriodTo, f.Currency, f.PayableQty, f.ReceivableQty,
					f.PayableAmount, f.ReceivableAmount)+"|"+f.Reason)
			}
			testkit.ErrorMultisetDiff(t, "findings", gotF, wantF)
			kinds := map[string]int{}
			for _, f := range truth.Findings {
				kinds[f.Kind]++
			}
			for k := range sixKinds {
				if k == report.KindMissingReceivables && missing == 0 {
					continue
				}
				if kinds[k] == 0 {
					t.Errorf("the generator planted no %s finding: the test proves nothing for it", k)
				}
			}
		})
	}
}
