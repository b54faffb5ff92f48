package sherwebsim

import (
	"cmp"
	"slices"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// Finding kinds and reasons of reconciliation rules version 1 (the same
// strings as package report; repeated here so that the simulator does not
// depend on the engine it is used to check).
const (
	KindUnbilled             = "unbilled"
	KindUnexpectedReceivable = "unexpected_receivable"
	KindQuantityMismatch     = "quantity_mismatch"
	KindNegativeMargin       = "negative_margin"
	KindUnattributed         = "unattributed"
	KindMissingReceivables   = "missing_receivables"

	reasonNoCustomerTag   = "no_customer_tag"
	reasonUnknownCustomer = "unknown_customer"
	reasonAmbiguousName   = "ambiguous_name"
	reasonFetchFailed     = "fetch_failed"
	reasonPeriodDiffers   = "period_differs"
)

// Truth is what the simulator serves for one period, with the current Faults
// applied, as recorded by the generator while it planted its scenarios.
type Truth struct {
	Period    billing.Period
	Customers []billing.Customer
	// PayableLines counts the payable lines served. ReceivableLines counts the
	// receivable lines served by successful responses, all customers: a
	// customer in FailCustomerAlways contributes none, one in PeriodDiffersFor
	// the lines of the previous month it is served instead.
	PayableLines, ReceivableLines int
	// PayableTotals is, per currency, Σ subTotal of all payable lines.
	// ReceivableTotals is, per currency, Σ quantity × costPriceProrated over
	// the customers whose receivables are usable (not in FailCustomerAlways
	// or PeriodDiffersFor). Both maps have the same currencies (zero where a
	// side has none).
	PayableTotals    map[string]decimal.Decimal
	ReceivableTotals map[string]decimal.Decimal
	// CustomerRows has one row per customer × currency with an attributed
	// payable line or a usable receivable line, sorted by customer id, currency.
	CustomerRows []TruthRow
	// Findings are the findings of the six kinds of the rules, by
	// construction, sorted (kind, customer id, sku, charge type, period,
	// currency, amounts).
	Findings []TruthFinding
	// Unattributed counts the payable lines no customer can be attributed to.
	Unattributed int
	// Missing maps the customers whose receivables are not usable to the
	// reason (fetch_failed or period_differs).
	Missing map[string]string
	// Changes are the planted changes of the period (Config.History, relative
	// to DefaultPeriod, and Server.SetRestated); nil when none.
	Changes []Change
}

// TruthRow is one customer × currency total.
type TruthRow struct {
	CustomerID   string
	CustomerName string
	Currency     string
	Payable      decimal.Decimal // Σ attributed payable subTotal
	Receivable   decimal.Decimal // Σ usable receivable quantity × costPriceProrated
	Available    bool            // the customer's receivables are usable
}

// TruthFinding is one finding expected from a correct reconciliation.
type TruthFinding struct {
	Kind             string
	CustomerID       string // "" for unattributed
	SKU              string
	ChargeType       string
	PeriodFrom       billing.Date
	PeriodTo         billing.Date
	Currency         string
	PayableQty       decimal.Decimal
	ReceivableQty    decimal.Decimal
	PayableAmount    decimal.Decimal
	ReceivableAmount decimal.Decimal
	Reason           string
	// Scenario names what was planted on the key ("" for unattributed and
	// missing_receivables findings), for diagnostics.
	Scenario string
}

var scenarioNames = map[int]string{
	scNormal: "normal", scUnbilled: "unbilled", scUnexpectedReceivable: "unexpected_receivable",
	scQuantityMismatch: "quantity_mismatch", scNegativeMargin: "negative_margin",
	scQuantityAndMargin: "quantity_mismatch+negative_margin", scAggregation: "aggregation", scPartner: "partner",
}

var kindRank = map[string]int{
	KindMissingReceivables: 0, KindUnattributed: 1, KindUnbilled: 2,
	KindUnexpectedReceivable: 3, KindQuantityMismatch: 4, KindNegativeMargin: 5,
}

// expectedKinds is what the planted scenario of a key of a customer with
// usable receivables yields, given whether its payable lines are attributed.
func expectedKinds(gr *group, attributed bool) []string {
	if !attributed {
		if gr.nrec > 0 {
			return []string{KindUnexpectedReceivable}
		}
		return nil
	}
	switch gr.scenario {
	case scUnbilled:
		return []string{KindUnbilled}
	case scUnexpectedReceivable:
		return []string{KindUnexpectedReceivable}
	case scQuantityMismatch:
		return []string{KindQuantityMismatch}
	case scNegativeMargin:
		return []string{KindNegativeMargin}
	case scQuantityAndMargin:
		return []string{KindQuantityMismatch, KindNegativeMargin}
	}
	return nil
}

// missingCustomers maps the indexes of customers whose receivables are not
// usable under f to the reason.
func (g *generator) missingCustomers(pi *periodInfo, f *Faults) map[int]string {
	m := map[int]string{}
	if i := g.failsIn(pi); i >= 0 {
		m[i] = reasonFetchFailed
	}
	for _, id := range f.PeriodDiffersFor {
		if i, ok := g.customerIndex(id); ok {
			m[i] = reasonPeriodDiffers
		}
	}
	for _, id := range f.FailCustomerAlways {
		if i, ok := g.customerIndex(id); ok {
			m[i] = reasonFetchFailed
		}
	}
	return m
}

type rowKey struct {
	ci  int
	cur string
}

type rowSum struct {
	pay, rec       decimal.Decimal
	hasPay, hasRec bool
}

func (g *generator) truth(pi *periodInfo, f *Faults) *Truth {
	t := &Truth{
		Period:           pi.p,
		PayableTotals:    map[string]decimal.Decimal{},
		ReceivableTotals: map[string]decimal.Decimal{},
		Missing:          map[string]string{},
	}
	missing := g.missingCustomers(pi, f)
	rows := map[rowKey]*rowSum{}
	row := func(ci int, cur string) *rowSum {
		k := rowKey{ci, cur}
		r, ok := rows[k]
		if !ok {
			r = &rowSum{}
			rows[k] = r
		}
		return r
	}
	addPay := func(cur string, d decimal.Decimal) {
		t.PayableTotals[cur] = t.PayableTotals[cur].Add(d)
		if _, ok := t.ReceivableTotals[cur]; !ok {
			t.ReceivableTotals[cur] = decimal.Zero
		}
	}
	addRec := func(cur string, d decimal.Decimal) {
		t.ReceivableTotals[cur] = t.ReceivableTotals[cur].Add(d)
		if _, ok := t.PayableTotals[cur]; !ok {
			t.PayableTotals[cur] = decimal.Zero
		}
	}

	// unattributed records the payable lines of a group no customer gets.
	unattributed := func(gr *group, reason string) {
		for i := 0; i < gr.npay; i++ {
			pl := &gr.pay[i]
			t.Unattributed++
			sku := gr.sku
			if pl.nullIDs {
				sku = ""
			}
			t.Findings = append(t.Findings, TruthFinding{Kind: KindUnattributed, SKU: sku, ChargeType: gr.chargeType,
				PeriodFrom: gr.from, PeriodTo: gr.to, Currency: gr.currency,
				PayableQty: pl.qty.dec(), ReceivableQty: decimal.Zero,
				PayableAmount: pl.sub.dec(), ReceivableAmount: decimal.Zero, Reason: reason})
		}
	}

	for ci := range g.customers {
		c := &g.customers[ci]
		reason, isMissing := missing[ci]
		if isMissing {
			t.Missing[c.ID] = reason
		}
		_ = g.eachGroup(pi, ci, func(gr *group) error {
			attributed, why := g.attribution(gr)
			payQty, payAmt := decimal.Zero, decimal.Zero
			for i := 0; i < gr.npay; i++ {
				pl := &gr.pay[i]
				t.PayableLines++
				addPay(gr.currency, pl.sub.dec())
				payQty = payQty.Add(pl.qty.dec())
				payAmt = payAmt.Add(pl.sub.dec())
			}
			if !attributed {
				unattributed(gr, why)
			} else if gr.npay > 0 {
				r := row(ci, gr.currency)
				r.pay, r.hasPay = r.pay.Add(payAmt), true
			}
			if isMissing {
				return nil
			}
			t.ReceivableLines += gr.nrec
			recQty, recAmt := decimal.Zero, decimal.Zero
			for i := 0; i < gr.nrec; i++ {
				rl := &gr.rec[i]
				amt := rl.qty.mul(rl.cpp).dec()
				recQty, recAmt = recQty.Add(rl.qty.dec()), recAmt.Add(amt)
				addRec(gr.currency, amt)
			}
			if gr.nrec > 0 {
				r := row(ci, gr.currency)
				r.rec, r.hasRec = r.rec.Add(recAmt), true
			}
			if !attributed {
				payQty, payAmt = decimal.Zero, decimal.Zero
			}
			for _, k := range expectedKinds(gr, attributed) {
				t.Findings = append(t.Findings, TruthFinding{Kind: k, CustomerID: c.ID, SKU: gr.sku,
					ChargeType: gr.chargeType, PeriodFrom: gr.from, PeriodTo: gr.to, Currency: gr.currency,
					PayableQty: payQty, ReceivableQty: recQty, PayableAmount: payAmt, ReceivableAmount: recAmt,
					Scenario: scenarioNames[gr.scenario]})
			}
			return nil
		})
		if reason == reasonPeriodDiffers {
			_ = g.eachGroup(pi.previous(), ci, func(gr *group) error {
				t.ReceivableLines += gr.nrec
				return nil
			})
		}
	}
	_ = g.eachPartnerGroup(pi, f.MalformedPayable == "unknown_enum", func(gr *group) error {
		for i := 0; i < gr.npay; i++ {
			t.PayableLines++
			addPay(gr.currency, gr.pay[i].sub.dec())
		}
		_, why := g.attribution(gr)
		unattributed(gr, why)
		return nil
	})

	// Missing receivables: one finding per currency with attributed payables.
	for ci := range g.customers {
		reason, ok := missing[ci]
		if !ok {
			continue
		}
		c := &g.customers[ci]
		n := 0
		for _, cur := range currencies {
			r, ok := rows[rowKey{ci, cur}]
			if !ok || !r.hasPay {
				continue
			}
			n++
			t.Findings = append(t.Findings, TruthFinding{Kind: KindMissingReceivables, CustomerID: c.ID, Currency: cur,
				PayableQty: decimal.Zero, ReceivableQty: decimal.Zero, PayableAmount: r.pay,
				ReceivableAmount: decimal.Zero, Reason: reason})
		}
		if n == 0 {
			t.Findings = append(t.Findings, TruthFinding{Kind: KindMissingReceivables, CustomerID: c.ID,
				PayableQty: decimal.Zero, ReceivableQty: decimal.Zero, PayableAmount: decimal.Zero,
				ReceivableAmount: decimal.Zero, Reason: reason})
		}
	}

	for k, r := range rows {
		c := &g.customers[k.ci]
		_, isMissing := missing[k.ci]
		t.CustomerRows = append(t.CustomerRows, TruthRow{CustomerID: c.ID, CustomerName: c.DisplayName, Currency: k.cur,
			Payable: r.pay, Receivable: r.rec, Available: !isMissing})
	}
	slices.SortFunc(t.CustomerRows, func(a, b TruthRow) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Currency, b.Currency))
	})
	slices.SortStableFunc(t.Findings, compareTruthFindings)
	for i := range g.customers {
		t.Customers = append(t.Customers, g.customers[i].Customer)
	}
	t.Changes = g.changes(pi)
	return t
}

func compareTruthFindings(a, b TruthFinding) int {
	return cmp.Or(
		cmp.Compare(kindRank[a.Kind], kindRank[b.Kind]),
		cmp.Compare(a.CustomerID, b.CustomerID),
		cmp.Compare(a.SKU, b.SKU),
		cmp.Compare(a.ChargeType, b.ChargeType),
		cmp.Compare(a.PeriodFrom, b.PeriodFrom),
		cmp.Compare(a.PeriodTo, b.PeriodTo),
		cmp.Compare(a.Currency, b.Currency),
		a.PayableAmount.Cmp(b.PayableAmount),
		a.PayableQty.Cmp(b.PayableQty),
		cmp.Compare(a.Reason, b.Reason),
	)
}
