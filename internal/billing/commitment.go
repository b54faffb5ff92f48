package billing

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Commitment is a subscription's commitmentTerm (sherweb-api.md §2.4),
// decoded from the raw JSON the ledger keeps.
type Commitment struct {
	Type        string             // Monthly, Annual, Biennial, Triennial
	TermEndDate Date               // the last day of the term
	Renewal     *Renewal           // nil: will not auto-renew
	Minimums    []CommittedMinimum // committedMinimalQuantities (nil when null)
}

// Renewal is a commitment's renewalConfiguration.
type Renewal struct {
	Date              Date   // the first day of the next term
	ScheduledQuantity *int64 // nil: renews at the current quantity
}

// CommittedMinimum is one committedMinimalQuantities entry: the quantity may
// not go below Quantity until Until.
type CommittedMinimum struct {
	Until    Date
	Quantity int64
}

// ParseCommitment decodes a commitmentTerm; nil for a subscription with no
// commitment (null). committedUntil is accepted as a date or a date-time.
func ParseCommitment(raw RawJSON) (*Commitment, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var w struct {
		Type        string `json:"type"`
		TermEndDate string `json:"termEndDate"`
		Renewal     *struct {
			RenewalDate       string `json:"renewalDate"`
			ScheduledQuantity *int64 `json:"scheduledQuantity"`
		} `json:"renewalConfiguration"`
		Minimums []struct {
			CommittedUntil string `json:"committedUntil"`
			Quantity       *int64 `json:"quantity"`
		} `json:"committedMinimalQuantities"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("commitmentTerm: %w", err)
	}
	c := &Commitment{Type: w.Type}
	var err error
	if c.TermEndDate, err = dateOf(w.TermEndDate); err != nil {
		return nil, fmt.Errorf("commitmentTerm.termEndDate: %w", err)
	}
	if w.Renewal != nil {
		d, err := dateOf(w.Renewal.RenewalDate)
		if err != nil {
			return nil, fmt.Errorf("commitmentTerm.renewalConfiguration.renewalDate: %w", err)
		}
		c.Renewal = &Renewal{Date: d, ScheduledQuantity: w.Renewal.ScheduledQuantity}
	}
	for i, m := range w.Minimums {
		d, err := dateOf(m.CommittedUntil)
		if err != nil {
			return nil, fmt.Errorf("commitmentTerm.committedMinimalQuantities[%d].committedUntil: %w", i, err)
		}
		if m.Quantity == nil {
			return nil, fmt.Errorf("commitmentTerm.committedMinimalQuantities[%d].quantity: required value is null or missing", i)
		}
		c.Minimums = append(c.Minimums, CommittedMinimum{Until: d, Quantity: *m.Quantity})
	}
	return c, nil
}

// dateOf reads a yyyy-MM-dd date, or the date part of a date-time.
func dateOf(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if len(s) > 10 && s[10] == 'T' {
		s = s[:10]
	}
	var d Date
	if err := d.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		return "", err
	}
	return d, nil
}

// MinimumOn is the committed minimal quantity in force on day d: the entry
// with the earliest committedUntil on or after d; 0 when none is.
func (c *Commitment) MinimumOn(d Date) (qty int64, until Date) {
	if c == nil {
		return 0, ""
	}
	for _, m := range c.Minimums {
		if m.Until >= d && (until == "" || m.Until < until) {
			qty, until = m.Quantity, m.Until
		}
	}
	return qty, until
}
