// Package billing holds the domain types shared by the fetcher, the ledger, the
// reconciliation engine and the simulator: Sherweb payable and receivable charge
// lines, customers, subscriptions and billing periods, and the domain words of
// a close: a customer's receivables Coverage and a fetch run's RunStatus
// (status.go), typed once here and used by the ledger, the engine and the job.
//
// The types mirror the Sherweb wire shapes (JSON tags match the API), so the
// fetcher decodes straight into them. Money and quantities are decimal.NullDecimal:
// a JSON number literal becomes an exact decimal, and a null or missing value stays
// absent (Valid == false), never zero. Enums are open sets and are kept as strings.
package billing

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Period is a billing period, both ends inclusive, as yyyy-MM-dd dates.
type Period struct {
	From Date `json:"periodFrom"`
	To   Date `json:"periodTo"`
}

// String renders the period as "from..to".
func (p Period) String() string { return string(p.From) + ".." + string(p.To) }

// Equal reports whether both ends are the same dates.
func (p Period) Equal(q Period) bool { return p.From == q.From && p.To == q.To }

// Tag is a name/value pair attached to a payable charge. Both may be null on
// the wire; null is read as "".
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Deduction is a discount applied to a payable charge.
type Deduction struct {
	Code          string              `json:"code"`
	Name          string              `json:"name"`
	DeductionType string              `json:"deductionType"`
	Value         decimal.NullDecimal `json:"value"`
	UnitValue     decimal.NullDecimal `json:"unitValue"`
	TotalValue    decimal.NullDecimal `json:"totalValue"`
}

// Fee is a fee associated with a payable charge.
type Fee struct {
	Name       string              `json:"name"`
	UnitValue  decimal.NullDecimal `json:"unitValue"`
	TotalValue decimal.NullDecimal `json:"totalValue"`
	IsTaxable  *bool               `json:"isTaxable"`
}

// Tax is a tax rate applied to a payable charge (the API sends no tax amount).
type Tax struct {
	Name        string              `json:"name"`
	AppliedRate decimal.NullDecimal `json:"appliedRate"`
}

// Invoice is the invoice a payable charge was billed on.
type Invoice struct {
	Number     string `json:"number"`
	Date       Date   `json:"date"`
	PeriodFrom Date   `json:"periodFrom"`
	PeriodTo   Date   `json:"periodTo"`
}

// PayableCharge is one line of GetPayableCharges (Distributor API): what the
// partner owes Sherweb. Its payable amount is SubTotal, exactly as sent.
type PayableCharge struct {
	ProductID        string              `json:"productId"`
	ProductName      string              `json:"productName"`
	SKU              string              `json:"sku"`
	ChargeID         string              `json:"chargeId"`
	ChargeName       string              `json:"chargeName"`
	ChargeType       string              `json:"chargeType"`
	BillingCycleType string              `json:"billingCycleType"`
	PeriodFrom       Date                `json:"periodFrom"`
	PeriodTo         Date                `json:"periodTo"`
	Quantity         decimal.NullDecimal `json:"quantity"`
	ListPrice        decimal.NullDecimal `json:"listPrice"`
	NetPrice         decimal.NullDecimal `json:"netPrice"`
	NetPriceProrated decimal.NullDecimal `json:"netPriceProrated"`
	SubTotal         decimal.NullDecimal `json:"subTotal"`
	Currency         string              `json:"currency"`
	IsBilled         *bool               `json:"isBilled"`
	IsProratable     *bool               `json:"isProratable"`
	Deductions       []Deduction         `json:"deductions"`
	Fees             []Fee               `json:"fees"`
	Invoice          *Invoice            `json:"invoice"`
	Taxes            []Tax               `json:"taxes"`
	Tags             []Tag               `json:"tags"`
}

// Amount is the payable amount of the line: SubTotal, exactly as sent.
// Validate guarantees it is present.
func (c *PayableCharge) Amount() decimal.Decimal { return c.SubTotal.Decimal }

// Describe names the charge for error messages: chargeId when present, else
// sku and period.
func (c *PayableCharge) Describe() string {
	return describe(c.ChargeID, c.SKU, c.PeriodFrom, c.PeriodTo)
}

// Validate checks the fields the reconciliation cannot do without. A null or
// missing subTotal, quantity or currency is an error, never a zero.
func (c *PayableCharge) Validate() error {
	var missing []string
	if !c.SubTotal.Valid {
		missing = append(missing, "subTotal")
	}
	if !c.Quantity.Valid {
		missing = append(missing, "quantity")
	}
	if strings.TrimSpace(c.Currency) == "" {
		missing = append(missing, "currency")
	}
	if len(missing) > 0 {
		return &FieldError{Record: "payable charge " + c.Describe(), Fields: missing}
	}
	return nil
}

// ReceivableCharge is one line of GetReceivableCharges (Service Provider API):
// what a customer owes the partner. Its receivable amount is
// Quantity × CostPriceProrated, the exact product.
type ReceivableCharge struct {
	ProductName       string              `json:"productName"`
	SKU               string              `json:"sku"`
	ChargeID          string              `json:"chargeId"`
	ChargeName        string              `json:"chargeName"`
	ChargeType        string              `json:"chargeType"`
	BillingCycleType  string              `json:"billingCycleType"`
	PeriodFrom        Date                `json:"periodFrom"`
	PeriodTo          Date                `json:"periodTo"`
	Quantity          decimal.NullDecimal `json:"quantity"`
	CostPrice         decimal.NullDecimal `json:"costPrice"`
	CostPriceProrated decimal.NullDecimal `json:"costPriceProrated"`
	Currency          string              `json:"currency"`
	IsProratable      *bool               `json:"isProratable"`
}

// Amount is the receivable amount: Quantity × CostPriceProrated, unrounded.
func (c *ReceivableCharge) Amount() decimal.Decimal {
	return c.Quantity.Decimal.Mul(c.CostPriceProrated.Decimal)
}

// Describe names the charge for error messages.
func (c *ReceivableCharge) Describe() string {
	return describe(c.ChargeID, c.SKU, c.PeriodFrom, c.PeriodTo)
}

// Validate checks the fields needed to compute the receivable amount.
func (c *ReceivableCharge) Validate() error {
	var missing []string
	if !c.Quantity.Valid {
		missing = append(missing, "quantity")
	}
	if !c.CostPriceProrated.Valid {
		missing = append(missing, "costPriceProrated")
	}
	if strings.TrimSpace(c.Currency) == "" {
		missing = append(missing, "currency")
	}
	if len(missing) > 0 {
		return &FieldError{Record: "receivable charge " + c.Describe(), Fields: missing}
	}
	return nil
}

// Customer is one item of GetCustomers.
type Customer struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Path        []string `json:"path"`
	// SuspendedOn is the suspension timestamp normalised to RFC 3339 UTC, or ""
	// when the customer is active.
	SuspendedOn Timestamp `json:"suspendedOn"`
}

// Validate checks that the customer can be used as a join target.
func (c *Customer) Validate() error {
	if strings.TrimSpace(c.ID) == "" {
		return &FieldError{Record: fmt.Sprintf("customer %q", c.DisplayName), Fields: []string{"id"}}
	}
	return nil
}

// SubscriptionFees is the retail price of a subscription (beta06+).
type SubscriptionFees struct {
	RecurringFee decimal.NullDecimal `json:"recurringFee"`
	SetupFee     decimal.NullDecimal `json:"setupFee"`
	Currency     string              `json:"currency"`
}

// Subscription is one item of GetSubscriptions. CommitmentTerm is kept as the
// raw JSON the API sent (its shape keeps changing between beta versions).
type Subscription struct {
	ID             string              `json:"id"`
	ProductName    string              `json:"productName"`
	Description    string              `json:"description"`
	SKU            string              `json:"sku"`
	Quantity       decimal.NullDecimal `json:"quantity"`
	BillingCycle   string              `json:"billingCycle"`
	PurchaseDate   Timestamp           `json:"purchaseDate"`
	Fees           *SubscriptionFees   `json:"fees"`
	CommitmentTerm RawJSON             `json:"commitmentTerm"`
}

func describe(chargeID, sku string, from, to Date) string {
	if chargeID != "" {
		return fmt.Sprintf("%s (sku %q, %s..%s)", chargeID, sku, from, to)
	}
	return fmt.Sprintf("(no chargeId, sku %q, %s..%s)", sku, from, to)
}

// FieldError reports required fields that are null or missing in one record.
type FieldError struct {
	Record string   // e.g. `payable charge 0b7d… (sku "X", 2024-03-01..2024-03-31)`
	Fields []string // JSON field names
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: required field %s is null or missing", e.Record, strings.Join(e.Fields, ", "))
}
