package mail

import (
	"crypto/sha256"
	"encoding/hex"
)

// Summary is what the message says about one reconciled run: plain values,
// amounts as exact decimal text (never floats), rendered as given.
type Summary struct {
	RunID      string
	PeriodFrom string // YYYY-MM-DD
	PeriodTo   string
	Complete   bool
	// Customers and Available count the customers and those whose
	// receivables could be used; Missing are the others.
	Customers int
	Available int
	Missing   []MissingCustomer
	Totals    []Total // per currency
	// Findings are the counts per kind. With HasStatus (the exceptions
	// register exists) each kind also has Open and Accepted counts.
	Findings  []KindCount
	HasStatus bool
	// Largest are the largest open findings by amount (at most ten).
	Largest []Finding
	// Bridge is the margin bridge per currency against BasePeriod, when the
	// message was asked for a comparison (--compare-base).
	BasePeriod string
	Bridge     []Bridge
	// Notes are sentences shown under the banner (e.g. that the detail
	// sheets were left out to keep the message under the size limit).
	Notes []string
}

// MissingCustomer is a customer whose receivables are missing.
type MissingCustomer struct {
	ID     string
	Name   string
	Reason string
}

// Total is one currency's totals.
type Total struct {
	Currency   string
	Payable    string
	Receivable string
	Margin     string
	MarginPct  string // "" when there is no receivable to divide by
}

// KindCount is the number of findings of one kind.
type KindCount struct {
	Kind     string
	Label    string // the kind in plain words (the workbook's label); "" shows the kind
	Count    int
	Open     int // with Summary.HasStatus
	Accepted int // with Summary.HasStatus
}

// Finding is one open finding.
type Finding struct {
	Kind       string
	Label      string // the kind in plain words; "" shows the kind
	CustomerID string
	Customer   string
	SKU        string
	Product    string
	Currency   string
	Amount     string // receivable − payable, exact
}

// Bridge is the margin bridge of one currency: Start plus every step equals
// End.
type Bridge struct {
	Currency string
	Start    string
	Steps    []BridgeStep
	End      string
}

// BridgeStep is one bucket of a bridge.
type BridgeStep struct {
	Label  string
	Amount string
}

// Period is the period as the subject shows it: YYYY-MM for a calendar
// month, "from to to" otherwise.
func (s *Summary) Period() string {
	if len(s.PeriodFrom) == 10 && len(s.PeriodTo) == 10 && s.PeriodFrom[:7] == s.PeriodTo[:7] && s.PeriodFrom[8:] == "01" {
		return s.PeriodFrom[:7]
	}
	return s.PeriodFrom + " to " + s.PeriodTo
}

// Status is COMPLETE or INCOMPLETE.
func (s *Summary) Status() string {
	if s.Complete {
		return "COMPLETE"
	}
	return "INCOMPLETE"
}

// Attachment is one attached file.
type Attachment struct {
	Name        string // the file name the recipient sees
	ContentType string // e.g. ContentTypeXLSX
	Data        []byte
}

// ContentTypeXLSX is the media type of an Excel workbook.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// SHA256 is the hex SHA-256 of the attachment's bytes.
func (a Attachment) SHA256() string {
	sum := sha256.Sum256(a.Data)
	return hex.EncodeToString(sum[:])
}
