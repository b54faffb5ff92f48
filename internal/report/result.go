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
	// LowMarginPercent, when set, makes every customer × currency row whose
	// margin % is below it (receivable not zero) a low_margin finding.
	LowMarginPercent decimal.NullDecimal
	// Mapping and Internal are the user's rule-0 entries (workflow rules,
	// "Customer mapping"): a payable line with a tag matching a Mapping entry
	// belongs to its customer, one matching an Internal entry is internal use.
	Mapping  []MapEntry
	Internal []MapEntry
}

// MapEntry is one [[mapping]] (CustomerID set) or [[internal]] entry.
type MapEntry struct {
	Tag        string // tag name, case-insensitive
	Value      string // compared trimmed, exactly
	CustomerID string // mapping only
	Line       int    // where it is written (configuration file line), for warnings
}

// Mapping warning problems.
const (
	MappingUnknownCustomer = "unknown_customer" // the entry names a customer that is not in the run
	MappingNoMatch         = "no_match"         // the entry matched no payable line of the run
)

// MappingWarning is a rule-0 entry that did nothing useful in this run.
type MappingWarning struct {
	Entry string // "mapping" or "internal"
	MapEntry
	Problem string // MappingUnknownCustomer or MappingNoMatch
}

// Result is a reconciliation of one period: values only, sorted
// deterministically, ready to be rendered as JSON or a workbook.
type Result struct {
	RunID           string
	ToolVersion     string // version of the tool that fetched the run; set by the caller
	Period          billing.Period
	Complete        bool
	Coverage        CoverageSummary
	Totals          []CurrencyTotal // sorted by currency
	Customers       []CustomerRow   // sorted by customer name, then id, then currency
	Products        []ProductRow    // sorted by SKU, then currency
	Mismatches      []Finding       // sorted: see engine docs
	Invoices        []InvoiceRow    // sorted by currency, then invoice number; no-invoice rows last
	PayableLines    int
	ReceivableLines int
	Tolerance       decimal.Decimal
	// InternalUse is the payable of internal-use lines per currency (rule 0);
	// they count in Totals and in no customer row.
	InternalUse []CurrencyAmount
	// MappingWarnings are the mapping entries that named an unknown customer
	// or matched no line.
	MappingWarnings []MappingWarning
	// Exceptions are the register entries that applied to this run (see
	// ApplyExceptions); nil when no register was applied.
	Exceptions []AppliedException
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
	// Per-line findings (unattributed, data quality) also carry the payable
	// line's charge id, invoice number and tags ("Name=Value; …", as sent),
	// so that the line can be found and the failed tag values read.
	ChargeID string
	Invoice  string
	Tags     string
	// Status is StatusOpen, StatusAccepted or StatusReopened once
	// Result.ApplyExceptions ran ("" before: open).
	Status string
	// Acceptance is the register entry that applied (accepted or reopened).
	Acceptance *Acceptance
}

// InvoiceRow is the payable side of one Sherweb invoice in one currency: the
// number of payable lines billed on it and the exact sum of their amounts.
// Number is "" for the payable lines that carry no invoice.
type InvoiceRow struct {
	Number   string
	Date     billing.Date // the invoice date; the smallest one when its lines disagree
	Currency string
	Lines    int
	Payable  decimal.Decimal
}

// Difference is receivable − payable.
func (f *Finding) Difference() decimal.Decimal { return f.ReceivableAmount.Sub(f.PayableAmount) }
