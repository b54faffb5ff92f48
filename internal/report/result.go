package report

import (
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// Finding kinds of reconciliation rules version 1. These names are part of the
// JSON contract and may not be renamed.
const (
	KindUnbilled             = "unbilled"
	KindUnexpectedReceivable = "unexpected_receivable"
	KindQuantityMismatch     = "quantity_mismatch"
	KindNegativeMargin       = "negative_margin"
	KindUnattributed         = "unattributed"
	KindMissingReceivables   = "missing_receivables"
)

// Unattributed reasons.
const (
	ReasonNoCustomerTag   = "no_customer_tag"
	ReasonUnknownCustomer = "unknown_customer"
	ReasonAmbiguousName   = "ambiguous_name"
)

// Coverage is what the fetch learned about one customer's receivables.
type Coverage struct {
	CustomerID string
	Status     billing.Coverage // billing.CoverageAvailable, billing.CoverageFetchFailed or billing.CoveragePeriodDiffers
	Error      string           // the fetch error, for fetch_failed
	Period     billing.Period   // the period the receivables response returned, when it returned one
}

// Input is everything the engine needs besides the charge lines themselves.
type Input struct {
	RunID     string
	Period    billing.Period
	Customers []billing.Customer
	Coverage  []Coverage
	// PayableOK is false when the payable fetch itself did not complete; the
	// result is then never complete.
	PayableOK bool
}

// Options tune the rules.
type Options struct {
	// Tolerance for negative_margin: a key is flagged when
	// receivable − payable < −Tolerance. Zero value means the default 0.01.
	Tolerance decimal.Decimal
}

// Result is a reconciliation of one period: values only, sorted
// deterministically, ready to be rendered as JSON or a workbook.
type Result struct {
	RunID           string
	Period          billing.Period
	Complete        bool
	Coverage        CoverageSummary
	Totals          []CurrencyTotal // sorted by currency
	Customers       []CustomerRow   // sorted by customer id, then currency
	Products        []ProductRow    // sorted by SKU, then currency
	Mismatches      []Finding       // sorted: see engine docs
	PayableLines    int
	ReceivableLines int
	Tolerance       decimal.Decimal
	// Subscriptions holds the Commitments and the amendments log of the
	// period (subscriptions.go); nil when the run was not checked.
	Subscriptions *SubscriptionsBlock
}

// CoverageSummary counts whose receivables could be used.
type CoverageSummary struct {
	Customers int
	Available int
	Missing   []MissingCustomer // sorted by customer id
}

// MissingCustomer is a customer whose receivables are not usable.
type MissingCustomer struct {
	CustomerID string
	Reason     billing.Coverage // billing.CoverageFetchFailed or billing.CoveragePeriodDiffers
	Error      string
}

// CurrencyTotal is a per-currency total.
type CurrencyTotal struct {
	Currency   string
	Payable    decimal.Decimal
	Receivable decimal.Decimal
	Margin     decimal.Decimal
}

// CustomerRow is one customer × currency row.
type CustomerRow struct {
	CustomerID   string
	CustomerName string
	Currency     string
	Payable      decimal.Decimal
	Receivable   decimal.Decimal
	Margin       decimal.Decimal
	// Available is false when the customer's receivables are missing.
	Available bool
}

// ProductRow is one SKU × currency row over attributed lines.
type ProductRow struct {
	SKU           string
	Product       string
	Currency      string
	PayableQty    decimal.Decimal
	ReceivableQty decimal.Decimal
	Payable       decimal.Decimal
	Receivable    decimal.Decimal
	Margin        decimal.Decimal
}

// Finding is one mismatch. For line findings the key fields (customer, SKU,
// charge type, period, currency) identify the aggregated line key.
type Finding struct {
	Kind             string
	CustomerID       string
	CustomerName     string
	SKU              string
	Product          string
	ChargeType       string
	PeriodFrom       billing.Date
	PeriodTo         billing.Date
	Currency         string
	PayableQty       decimal.Decimal
	ReceivableQty    decimal.Decimal
	PayableAmount    decimal.Decimal
	ReceivableAmount decimal.Decimal
	Reason           string
}

// Difference is receivable − payable.
func (f *Finding) Difference() decimal.Decimal { return f.ReceivableAmount.Sub(f.PayableAmount) }
