package sherwebsim

import (
	"strconv"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// This file turns generated groups into the shared billing types (for tests
// and the Truth) and derives the subscriptions of a customer.

func boolPtr(v bool) *bool { return &v }

// invoiceNumber is the invoice of a month and currency.
func (g *generator) invoiceNumber(pi *periodInfo, currency string) string {
	b := g.appendInvoiceNumber(nil, pi, currency)
	return string(b[1 : len(b)-1])
}

func (g *generator) tags(gr *group) []billing.Tag {
	var c *customer
	if gr.ci >= 0 {
		c = &g.customers[gr.ci]
	}
	switch gr.tag {
	case tagName:
		return []billing.Tag{{Name: "CustomerDisplayName", Value: c.DisplayName}}
	case tagNameSpaces:
		return []billing.Tag{{Name: "CustomerDisplayName", Value: "  " + c.DisplayName + " "}}
	case tagNameLower:
		return []billing.Tag{{Name: "customerdisplayname", Value: c.DisplayName}}
	case tagID:
		return []billing.Tag{{Name: "CustomerId", Value: c.ID}}
	case tagIDUpper:
		return []billing.Tag{{Name: "CustomerId", Value: c.idUpper}}
	case tagIDAndName:
		return []billing.Tag{{Name: "CustomerDisplayName", Value: c.DisplayName}, {Name: "CustomerId", Value: c.ID}}
	case tagEmpty:
		return []billing.Tag{}
	case tagUnknownName:
		return []billing.Tag{{Name: "CustomerDisplayName", Value: unknownCustomerName}}
	case tagUnknownID:
		return []billing.Tag{{Name: "CustomerId", Value: gr.unknownID.String()}}
	}
	return nil
}

func taxes(mode int, currency string) []billing.Tax {
	rate := func(s string) decimal.NullDecimal {
		return decimal.NullDecimal{Decimal: decimal.RequireFromString(s), Valid: true}
	}
	switch mode {
	case 0:
		return nil
	case 1:
		return []billing.Tax{}
	}
	switch currency {
	case "CAD":
		if mode == 3 {
			return []billing.Tax{{Name: "GST", AppliedRate: rate("0.05")}, {Name: "QST", AppliedRate: rate("0.09975")}}
		}
		return []billing.Tax{{Name: "GST", AppliedRate: rate("0.05")}}
	case "USD":
		return []billing.Tax{{Name: "Sales tax", AppliedRate: rate("0.0825")}}
	case "EUR":
		return []billing.Tax{{Name: "VAT", AppliedRate: rate("0.20")}}
	}
	return []billing.Tax{}
}

// payable builds the billing value of one payable line (what a client
// decodes from the served JSON).
func (g *generator) payable(pi *periodInfo, gr *group, pl *payLine) *billing.PayableCharge {
	c := &billing.PayableCharge{
		ChargeType:       gr.chargeType,
		BillingCycleType: gr.cycle,
		PeriodFrom:       gr.from,
		PeriodTo:         gr.to,
		Quantity:         pl.qty.nd(),
		ListPrice:        pl.list.nd(),
		NetPrice:         pl.net.nd(),
		NetPriceProrated: pl.npp.nd(),
		SubTotal:         pl.sub.nd(),
		Currency:         gr.currency,
		IsBilled:         boolPtr(pl.billed),
		IsProratable:     boolPtr(gr.proratable),
		Taxes:            taxes(pl.taxes, gr.currency),
		Tags:             g.tags(gr),
	}
	if pl.nullIDs || gr.prod == nil {
		c.ChargeName = "Adjustment"
	} else {
		c.ProductID, c.ProductName, c.SKU = gr.prod.id.String(), gr.prod.name, gr.sku
		c.ChargeID, c.ChargeName = pl.chargeID.String(), gr.prod.charge
	}
	switch pl.ded {
	case 1:
		c.Deductions = []billing.Deduction{}
	case 2:
		c.Deductions = []billing.Deduction{{Code: "PROMO-NCE10", Name: "NCE launch promotion",
			DeductionType: "PromotionalPercentage", Value: fxInt(10).nd(), UnitValue: pl.dedUnit.nd(),
			TotalValue: pl.dedUnit.mul(pl.qty).nd()}}
	}
	switch pl.fees {
	case 1:
		c.Fees = []billing.Fee{}
	case 2:
		c.Fees = []billing.Fee{{Name: "Provisioning fee", UnitValue: pl.feeUnit.nd(),
			TotalValue: pl.feeUnit.mul(pl.qty).nd(), IsTaxable: boolPtr(true)}}
	}
	if pl.billed {
		c.Invoice = &billing.Invoice{Number: g.invoiceNumber(pi, gr.currency), Date: pi.invDate,
			PeriodFrom: pi.p.From, PeriodTo: pi.p.To}
	}
	return c
}

// receivable builds the billing value of one receivable line.
func receivable(gr *group, rl *recLine) billing.ReceivableCharge {
	c := billing.ReceivableCharge{
		ProductName:       gr.prod.name,
		SKU:               gr.sku,
		ChargeID:          rl.chargeID.String(),
		ChargeName:        gr.prod.charge,
		ChargeType:        gr.chargeType,
		PeriodFrom:        gr.from,
		PeriodTo:          gr.to,
		Quantity:          rl.qty.nd(),
		CostPrice:         rl.cost.nd(),
		CostPriceProrated: rl.cpp.nd(),
		Currency:          gr.currency,
		IsProratable:      boolPtr(gr.proratable),
	}
	if !rl.omitCycle {
		c.BillingCycleType = gr.cycle
	}
	return c
}

// customerIndex finds a customer by id (case-insensitive).
func (g *generator) customerIndex(id string) (int, bool) {
	i, ok := g.byID[strings.ToLower(strings.TrimSpace(id))]
	return i, ok
}

// subscription is one item of GetSubscriptions.
type subscription struct {
	id                     uuid
	prod                   *product
	sku                    string
	quantity               int64
	billingCycle           string
	purchaseDate           string
	fees                   bool
	recurringFee, setupFee fx
	feeCurrency            string
	commitment             string // "", "Monthly", "Annual"
	termEnd, renewal       billing.Date
	committedUntil         billing.Date
	extra                  *subExtra // planted licence scenarios (licence.go); nil by default
}

var titleCurrency = map[string]string{"USD": "Usd", "CAD": "Cad", "EUR": "Eur", "GBP": "Gbp"}

// subscriptions derives a customer's subscriptions from its charges of month
// pi: one per subscribed SKU (seat adds increase the quantity), one per line
// of an aggregated key.
func (g *generator) subscriptions(pi *periodInfo, ci int) []subscription {
	// At most one subscription per line: sized for the customer's lines
	// (eachGroupBase's target is at most 5/4 of perCustomer, plus the two
	// planted scenarios), so the slice is rarely regrown; capped, so that a
	// simulator of a few huge customers does not allocate for all their
	// lines up front.
	hint := min(g.perCustomer*5/4+8, 1024)
	subs := make([]subscription, 0, hint)
	bySKU := make(map[string]int, hint)
	_ = g.eachGroup(pi, ci, func(gr *group) error {
		if gr.chargeType == "Setup" {
			return nil
		}
		n := gr.npay
		lines := gr.pay[:n]
		if n == 0 { // billed to the customer only: still a subscription
			lines = gr.pay[:1]
			lines[0].qty = gr.rec[0].qty
		}
		for i := range lines {
			pl := &lines[i]
			if j, ok := bySKU[gr.sku]; ok && n == 1 {
				subs[j].quantity += pl.qty.round(0).v
				continue
			}
			h := splitmix64(pl.chargeID[0] ^ pl.chargeID[1])
			s := subscription{id: newUUID(splitmix64(h), splitmix64(h+1)), prod: gr.prod, sku: gr.sku,
				quantity: pl.qty.round(0).v, billingCycle: "monthly"}
			bought := pi.first.AddDate(0, -int(1+h%24), int(h%28)).Add(time.Duration(h%86400) * time.Second)
			// 2006-01-02T15:04:05.nnnnnnn, with a Z on half of them.
			var pd [40]byte
			b := bought.AppendFormat(pd[:0], "2006-01-02T15:04:05")
			b = append(b, '.')
			b = strconv.AppendUint(b, 1e7+h%1e7, 10)
			b = append(b[:len(b)-8], b[len(b)-7:]...) // the seven digits, without the 1
			if h%2 == 0 {
				b = append(b, 'Z')
			}
			s.purchaseDate = string(b)
			switch {
			case gr.chargeType == "Usage":
				s.quantity = 1
			case gr.cycle == "Yearly":
				s.billingCycle = "yearly"
				s.fees, s.recurringFee, s.setupFee = true, pl.list.mul(gr.markup).round(2), fx{v: 2500, s: 2}
				s.commitment, s.termEnd = "Annual", gr.to
			default:
				s.fees, s.recurringFee, s.setupFee = true, pl.list.mul(gr.markup).round(2), fxInt(0)
				s.commitment, s.termEnd = "Monthly", pi.p.To
				s.renewal = billing.Date(pi.first.AddDate(0, 1, 0).Format("2006-01-02"))
				s.committedUntil = pi.days[min(7, pi.dim)]
			}
			s.feeCurrency = titleCurrency[gr.currency]
			bySKU[gr.sku] = len(subs)
			subs = append(subs, s)
		}
		return nil
	})
	return subs
}
