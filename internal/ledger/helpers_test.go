package ledger

import (
	"fmt"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// exactDecimal compares decimals by their billing.Text, so that two are
// equal only when they are Equal and have the same scale (the ledger keeps a
// literal's scale: "45.00" is not "45"), and a diff shows the exact text.
var exactDecimal = cmp.Transformer("billing.Text", billing.Text)

// diff lists the differences between two values of the same type: none when
// they are equal, else one cmp.Diff report (-want +got). Decimals compare by
// exactDecimal; nil and empty slices differ (the ledger keeps null and []
// apart), as cmp has it by default.
func diff(want, got any) []string {
	if d := cmp.Diff(want, got, exactDecimal); d != "" {
		return []string{"(-want +got):\n" + d}
	}
	return nil
}

func dec(s string) decimal.NullDecimal {
	return decimal.NullDecimal{Decimal: decimal.RequireFromString(s), Valid: true}
}

func ptr[T any](v T) *T { return &v }

var (
	scales   = []string{"45.00", "1843.275", "0.000123", "-12.00", "15.20", "45", "0", "100.1000"}
	skus     = []string{"SKU-A", "SKU-B", "SKU-C"}
	currency = []string{"USD", "CAD"}
)

// samplePayable builds a varied payable charge; i makes it unique (chargeId).
func samplePayable(i int) *billing.PayableCharge {
	c := &billing.PayableCharge{
		ProductID:        fmt.Sprintf("prod-%d", i%7),
		ProductName:      fmt.Sprintf("Product %d", i%7),
		SKU:              skus[i%len(skus)],
		ChargeID:         fmt.Sprintf("charge-%06d", i),
		ChargeName:       "Monthly",
		ChargeType:       []string{"Recurring", "Setup", "Usage"}[i%3],
		BillingCycleType: "Monthly",
		PeriodFrom:       "2026-10-01",
		PeriodTo:         "2026-10-31",
		Quantity:         dec(fmt.Sprintf("%d", 1+i%5)),
		NetPrice:         dec(scales[(i+1)%len(scales)]),
		NetPriceProrated: dec(scales[(i+2)%len(scales)]),
		SubTotal:         dec(scales[i%len(scales)]),
		Currency:         currency[i%len(currency)],
	}
	if i%4 != 0 {
		c.ListPrice = dec(scales[(i+3)%len(scales)]) // absent for every 4th line
	}
	switch i % 3 {
	case 0:
		c.IsBilled, c.IsProratable = ptr(true), ptr(false)
	case 1:
		c.IsBilled = ptr(false)
	}
	switch i % 4 {
	case 0:
		c.Tags = []billing.Tag{{Name: "CustomerId", Value: fmt.Sprintf("cust-%02d", i%11)}}
	case 1:
		c.Tags = []billing.Tag{{Name: "customerdisplayname", Value: fmt.Sprintf(" Customer %d ", i%5)}, {Name: "Other", Value: "x"}}
	case 2:
		c.Tags = []billing.Tag{}
	}
	if i%5 == 0 {
		c.Deductions = []billing.Deduction{{Code: "D1", Name: "Promo", DeductionType: "Percentage",
			Value: dec("10.00"), UnitValue: dec("-1.50"), TotalValue: dec("-4.500")}}
		c.Fees = []billing.Fee{{Name: "Env", UnitValue: dec("0.10"), IsTaxable: ptr(true)}}
		c.Taxes = []billing.Tax{{Name: "GST", AppliedRate: dec("0.05000")}, {Name: "none"}}
		c.Invoice = &billing.Invoice{Number: fmt.Sprintf("INV-%d", i), Date: "2026-11-01", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31"}
	} else if i%5 == 1 {
		c.Deductions, c.Fees, c.Taxes = []billing.Deduction{}, []billing.Fee{}, []billing.Tax{}
	}
	return c
}

func sampleReceivable(i int) billing.ReceivableCharge {
	c := billing.ReceivableCharge{
		ProductName:       fmt.Sprintf("Product %d", i%7),
		SKU:               skus[i%len(skus)],
		ChargeID:          fmt.Sprintf("rcharge-%06d", i),
		ChargeName:        "Monthly",
		ChargeType:        "Recurring",
		BillingCycleType:  "Monthly",
		PeriodFrom:        "2026-10-01",
		PeriodTo:          "2026-10-31",
		Quantity:          dec(fmt.Sprintf("%d", 1+i%4)),
		CostPriceProrated: dec(scales[i%len(scales)]),
		Currency:          currency[i%len(currency)],
	}
	if i%2 == 0 {
		c.CostPrice = dec(scales[(i+1)%len(scales)])
		c.IsProratable = ptr(i%4 == 0)
	}
	return c
}

func sampleSubscription(i int) billing.Subscription {
	s := billing.Subscription{
		ID:           fmt.Sprintf("sub-%04d", i),
		ProductName:  "Product",
		Description:  "desc",
		SKU:          skus[i%len(skus)],
		Quantity:     dec(fmt.Sprintf("%d.0", i%3)),
		BillingCycle: "Monthly",
		PurchaseDate: "2025-01-02T03:04:05Z",
	}
	if i%2 == 0 {
		s.Fees = &billing.SubscriptionFees{RecurringFee: dec("12.50"), Currency: "USD"}
		s.CommitmentTerm = billing.RawJSON(`{"type":"Annual","termEndDate":"2027-01-01"}`)
	}
	return s
}
