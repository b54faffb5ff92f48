package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// The comparison JSON of comparison-rules.md. Field order is the output
// order; keys of the contract are never renamed or dropped, extra keys are
// marked.

type jsonComparison struct {
	Base         jsonComparedRun       `json:"base"`
	Current      jsonComparedRun       `json:"current"`
	Complete     bool                  `json:"complete"`
	Bridge       []jsonBridge          `json:"bridge"`
	Customers    []jsonCustMovement    `json:"customers"`
	Products     []jsonProdMovement    `json:"products"`
	Findings     []jsonFindMovement    `json:"findings"`
	Restatements []jsonRestatement     `json:"restatements"`
	SamePeriod   bool                  `json:"same_period"`   // extra
	BaseIsNewer  bool                  `json:"base_is_newer"` // extra
	Tolerance    string                `json:"tolerance"`     // extra
	Incomplete   []jsonIncompleteCause `json:"incomplete"`    // extra: the runs and customers at fault
}

type jsonComparedRun struct {
	RunID    string     `json:"run_id"`
	Period   jsonPeriod `json:"period"`
	Complete bool       `json:"complete"`
}

type jsonIncompleteCause struct {
	Side      string        `json:"side"`
	RunID     string        `json:"run_id"`
	Customers []jsonMissing `json:"receivables_failed"`
}

type jsonBridge struct {
	Currency      string `json:"currency"`
	StartMargin   string `json:"start_margin"`
	Coverage      string `json:"coverage"`
	NewCustomers  string `json:"new_customers"`
	LostCustomers string `json:"lost_customers"`
	NewProducts   string `json:"new_products"`
	LostProducts  string `json:"lost_products"`
	Volume        string `json:"volume"`
	Rate          string `json:"rate"`
	Unattributed  string `json:"unattributed"`
	EndMargin     string `json:"end_margin"`
}

type jsonCustMovement struct {
	CustomerID        string `json:"customer_id"`
	CustomerName      string `json:"customer_name"`
	Currency          string `json:"currency"`
	Status            string `json:"status"`
	PayableBase       string `json:"payable_base"`
	PayableCurrent    string `json:"payable_current"`
	ReceivableBase    string `json:"receivable_base"`
	ReceivableCurrent string `json:"receivable_current"`
	MarginBase        string `json:"margin_base"`
	MarginCurrent     string `json:"margin_current"`
	NewProducts       string `json:"new_products"`
	LostProducts      string `json:"lost_products"`
	Volume            string `json:"volume"`
	Rate              string `json:"rate"`
	Change            string `json:"change"` // extra: margin_current − margin_base
}

type jsonProdMovement struct {
	SKU                       string `json:"sku"`
	Currency                  string `json:"currency"`
	PayableQuantityBase       string `json:"payable_quantity_base"`
	PayableQuantityCurrent    string `json:"payable_quantity_current"`
	ReceivableQuantityBase    string `json:"receivable_quantity_base"`
	ReceivableQuantityCurrent string `json:"receivable_quantity_current"`
	PayableBase               string `json:"payable_base"`
	PayableCurrent            string `json:"payable_current"`
	ReceivableBase            string `json:"receivable_base"`
	ReceivableCurrent         string `json:"receivable_current"`
	Product                   string `json:"product"` // extra
}

type jsonFindMovement struct {
	Fingerprint   string `json:"fingerprint"`
	Status        string `json:"status"`
	Kind          string `json:"kind"`
	CustomerID    string `json:"customer_id"`
	SKU           string `json:"sku"`
	ChargeType    string `json:"charge_type"`
	Currency      string `json:"currency"`
	CountBase     int    `json:"count_base"`
	CountCurrent  int    `json:"count_current"`
	AmountBase    string `json:"amount_base"`
	AmountCurrent string `json:"amount_current"`
	Changed       bool   `json:"changed"`       // extra: persisting, with another count or amount
	CustomerName  string `json:"customer_name"` // extra
}

type jsonRestatement struct {
	CustomerID                string       `json:"customer_id"`
	SKU                       string       `json:"sku"`
	ChargeType                string       `json:"charge_type"`
	PeriodFrom                billing.Date `json:"period_from"`
	PeriodTo                  billing.Date `json:"period_to"`
	Currency                  string       `json:"currency"`
	PayableQuantityBase       string       `json:"payable_quantity_base"`
	PayableQuantityCurrent    string       `json:"payable_quantity_current"`
	PayableAmountBase         string       `json:"payable_amount_base"`
	PayableAmountCurrent      string       `json:"payable_amount_current"`
	ReceivableQuantityBase    string       `json:"receivable_quantity_base"`
	ReceivableQuantityCurrent string       `json:"receivable_quantity_current"`
	ReceivableAmountBase      string       `json:"receivable_amount_base"`
	ReceivableAmountCurrent   string       `json:"receivable_amount_current"`
	InBase                    bool         `json:"in_base"`    // extra
	InCurrent                 bool         `json:"in_current"` // extra
}

// splitText is the text of a customer split column: the exact amount for a
// continuing customer, "" otherwise (comparison-rules.md).
func splitText(m *CustomerMovement, v func() string) string {
	if !m.HasSplit {
		return ""
	}
	return v()
}

// WriteJSON writes the comparison JSON of comparison-rules.md: amounts as
// strings holding the exact decimal, arrays never null, keys in a fixed
// order, two-space indent, trailing newline. The same Comparison always
// gives the same bytes.
func (c *Comparison) WriteJSON(w io.Writer) error {
	s := jsonComparison{
		Base: jsonComparedRun{RunID: c.Base.RunID, Complete: c.Base.Complete,
			Period: jsonPeriod{From: c.Base.Period.From, To: c.Base.Period.To}},
		Current: jsonComparedRun{RunID: c.Current.RunID, Complete: c.Current.Complete,
			Period: jsonPeriod{From: c.Current.Period.From, To: c.Current.Period.To}},
		Complete:     c.Complete,
		Bridge:       make([]jsonBridge, 0, len(c.Bridge)),
		Customers:    make([]jsonCustMovement, 0, len(c.Customers)),
		Products:     make([]jsonProdMovement, 0, len(c.Products)),
		Findings:     make([]jsonFindMovement, 0, len(c.Findings)),
		Restatements: make([]jsonRestatement, 0, len(c.Restatements)),
		SamePeriod:   c.SamePeriod,
		BaseIsNewer:  c.BaseIsNewer,
		Tolerance:    jsonAmount(c.Tolerance),
		Incomplete:   make([]jsonIncompleteCause, 0, len(c.Incomplete)),
	}
	for _, ic := range c.Incomplete {
		j := jsonIncompleteCause{Side: ic.Side, RunID: ic.RunID, Customers: make([]jsonMissing, 0, len(ic.Customers))}
		for _, m := range ic.Customers {
			j.Customers = append(j.Customers, jsonMissing{CustomerID: m.CustomerID, Reason: string(m.Reason), Error: m.Error})
		}
		s.Incomplete = append(s.Incomplete, j)
	}
	for _, b := range c.Bridge {
		s.Bridge = append(s.Bridge, jsonBridge{Currency: b.Currency,
			StartMargin: jsonAmount(b.StartMargin), Coverage: jsonAmount(b.Coverage),
			NewCustomers: jsonAmount(b.NewCustomers), LostCustomers: jsonAmount(b.LostCustomers),
			NewProducts: jsonAmount(b.NewProducts), LostProducts: jsonAmount(b.LostProducts),
			Volume: jsonAmount(b.Volume), Rate: jsonAmount(b.Rate),
			Unattributed: jsonAmount(b.Unattributed), EndMargin: jsonAmount(b.EndMargin)})
	}
	for i := range c.Customers {
		m := &c.Customers[i]
		s.Customers = append(s.Customers, jsonCustMovement{CustomerID: m.CustomerID, CustomerName: m.CustomerName,
			Currency: m.Currency, Status: m.Status,
			PayableBase: jsonAmount(m.PayableBase), PayableCurrent: jsonAmount(m.PayableCurrent),
			ReceivableBase: jsonAmount(m.ReceivableBase), ReceivableCurrent: jsonAmount(m.ReceivableCurrent),
			MarginBase: jsonAmount(m.MarginBase), MarginCurrent: jsonAmount(m.MarginCurrent),
			NewProducts:  splitText(m, func() string { return jsonAmount(m.NewProducts) }),
			LostProducts: splitText(m, func() string { return jsonAmount(m.LostProducts) }),
			Volume:       splitText(m, func() string { return jsonAmount(m.Volume) }),
			Rate:         splitText(m, func() string { return jsonAmount(m.Rate) }),
			Change:       jsonAmount(m.Change())})
	}
	for _, p := range c.Products {
		s.Products = append(s.Products, jsonProdMovement{SKU: p.SKU, Currency: p.Currency,
			PayableQuantityBase: jsonAmount(p.PayableQtyBase), PayableQuantityCurrent: jsonAmount(p.PayableQtyCurrent),
			ReceivableQuantityBase: jsonAmount(p.ReceivableQtyBase), ReceivableQuantityCurrent: jsonAmount(p.ReceivableQtyCurrent),
			PayableBase: jsonAmount(p.PayableBase), PayableCurrent: jsonAmount(p.PayableCurrent),
			ReceivableBase: jsonAmount(p.ReceivableBase), ReceivableCurrent: jsonAmount(p.ReceivableCurrent),
			Product: p.Product})
	}
	for _, f := range c.Findings {
		s.Findings = append(s.Findings, jsonFindMovement{Fingerprint: f.Fingerprint, Status: f.Status,
			Kind: f.Key.Kind, CustomerID: f.Key.CustomerID, SKU: f.Key.SKU, ChargeType: f.Key.ChargeType,
			Currency: f.Key.Currency, CountBase: f.CountBase, CountCurrent: f.CountCurrent,
			AmountBase: jsonAmount(f.AmountBase), AmountCurrent: jsonAmount(f.AmountCurrent),
			Changed: f.Changed(), CustomerName: f.CustomerName})
	}
	for _, r := range c.Restatements {
		s.Restatements = append(s.Restatements, jsonRestatement{CustomerID: r.CustomerID, SKU: r.SKU,
			ChargeType: r.ChargeType, PeriodFrom: r.PeriodFrom, PeriodTo: r.PeriodTo, Currency: r.Currency,
			PayableQuantityBase: jsonAmount(r.PayableQtyBase), PayableQuantityCurrent: jsonAmount(r.PayableQtyCurrent),
			PayableAmountBase: jsonAmount(r.PayableAmountBase), PayableAmountCurrent: jsonAmount(r.PayableAmountCurrent),
			ReceivableQuantityBase: jsonAmount(r.ReceivableQtyBase), ReceivableQuantityCurrent: jsonAmount(r.ReceivableQtyCurrent),
			ReceivableAmountBase: jsonAmount(r.ReceivableAmountBase), ReceivableAmountCurrent: jsonAmount(r.ReceivableAmountCurrent),
			InBase: r.InBase, InCurrent: r.InCurrent})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		return fmt.Errorf("write comparison json of runs %s and %s: %w", c.Base.RunID, c.Current.RunID, err)
	}
	return nil
}
