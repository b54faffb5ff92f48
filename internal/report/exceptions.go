package report

import (
	"cmp"
	"slices"

	"github.com/shopspring/decimal"
)

// Finding statuses (workflow-rules.md, "Exceptions register"). These names
// are part of the JSON contract.
const (
	StatusOpen     = "open"
	StatusAccepted = "accepted"
	StatusReopened = "reopened"
)

// Statuses returns the finding statuses in report order.
func Statuses() []string { return []string{StatusOpen, StatusAccepted, StatusReopened} }

// Acceptance is an acceptance in force (not revoked) from the register.
type Acceptance struct {
	ID          int64
	Fingerprint string
	Amount      decimal.Decimal // the group's receivable − payable at acceptance
	Band        decimal.Decimal
	Until       string // last period covered, YYYY-MM; "" open-ended
	Reason      string
	By          string
	At          string // when, RFC 3339
	RunID       int64  // the run it was accepted from
}

// AppliedException is a register entry that applied to this run: one per
// fingerprint group that an acceptance matched.
type AppliedException struct {
	Acceptance
	Status    string          // StatusAccepted or StatusReopened
	AmountNow decimal.Decimal // the group's receivable − payable in this run
	Findings  int
}

// Status returns the finding's status; a finding of a result to which no
// register was applied is open.
func (f *Finding) StatusOrOpen() string {
	if f.Status == "" {
		return StatusOpen
	}
	return f.Status
}

// Actionable reports whether the finding needs attention: open or reopened.
func (f *Finding) Actionable() bool { return f.StatusOrOpen() != StatusAccepted }

// ApplyExceptions labels every finding with its status: accepted when an
// acceptance in force for its period has its fingerprint and the group's
// amount is within the band of the amount at acceptance, reopened when it
// moved beyond the band, open otherwise. Amounts are per fingerprint group
// (Σ receivable − payable over the findings sharing the fingerprint), and
// every finding of a group gets the group's status. An acceptance never
// changes an amount, a total or whether a finding exists.
//
// acc may hold several acceptances of one fingerprint: the latest (highest
// id) whose Until covers the period applies. Result.Exceptions lists the
// acceptances that applied, by fingerprint.
func (r *Result) ApplyExceptions(acc []Acceptance) {
	period := ""
	if len(r.Period.From) >= 7 {
		period = string(r.Period.From)[:7]
	}
	best := map[string]*Acceptance{}
	for i := range acc {
		a := &acc[i]
		if a.Until != "" && period != "" && period > a.Until {
			continue // expired
		}
		if b, ok := best[a.Fingerprint]; !ok || a.ID > b.ID {
			best[a.Fingerprint] = a
		}
	}
	groups := map[string]decimal.Decimal{}
	counts := map[string]int{}
	fps := make([]string, len(r.Mismatches))
	for i := range r.Mismatches {
		f := &r.Mismatches[i]
		fp := Fingerprint(f)
		fps[i] = fp
		groups[fp] = groups[fp].Add(f.Difference())
		counts[fp]++
	}
	r.Exceptions = []AppliedException{}
	applied := map[string]bool{}
	for i := range r.Mismatches {
		f := &r.Mismatches[i]
		f.Status, f.Acceptance = StatusOpen, nil
		a, ok := best[fps[i]]
		if !ok {
			continue
		}
		now := groups[fps[i]]
		f.Status = StatusAccepted
		if now.Sub(a.Amount).Abs().Cmp(a.Band) > 0 {
			f.Status = StatusReopened
		}
		f.Acceptance = a
		if !applied[fps[i]] {
			applied[fps[i]] = true
			r.Exceptions = append(r.Exceptions, AppliedException{Acceptance: *a, Status: f.Status, AmountNow: now, Findings: counts[fps[i]]})
		}
	}
	slices.SortFunc(r.Exceptions, func(a, b AppliedException) int { return cmp.Compare(a.ID, b.ID) })
}

// StatusCount is the number of findings of one status and their summed
// difference (receivable − payable) per currency.
type StatusCount struct {
	Status string
	Count  int
	Sums   []CurrencyAmount // sorted by currency
}

// CurrencyAmount is an amount in one currency (and, for status counts, the
// number of findings in it).
type CurrencyAmount struct {
	Currency string
	Count    int
	Amount   decimal.Decimal
}

// StatusCounts counts and sums the findings per status, in Statuses order.
func (r *Result) StatusCounts() []StatusCount {
	out := make([]StatusCount, 0, 3)
	for _, st := range Statuses() {
		sc := StatusCount{Status: st, Sums: []CurrencyAmount{}}
		sums := map[string]*CurrencyAmount{}
		for i := range r.Mismatches {
			f := &r.Mismatches[i]
			if f.StatusOrOpen() != st {
				continue
			}
			sc.Count++
			a, ok := sums[f.Currency]
			if !ok {
				a = &CurrencyAmount{Currency: f.Currency}
				sums[f.Currency] = a
			}
			a.Count++
			a.Amount = a.Amount.Add(f.Difference())
		}
		for _, a := range sums {
			sc.Sums = append(sc.Sums, *a)
		}
		slices.SortFunc(sc.Sums, func(a, b CurrencyAmount) int { return cmp.Compare(a.Currency, b.Currency) })
		out = append(out, sc)
	}
	return out
}

// ActionableFindings counts the open and reopened findings.
func (r *Result) ActionableFindings() int {
	n := 0
	for i := range r.Mismatches {
		if r.Mismatches[i].Actionable() {
			n++
		}
	}
	return n
}
