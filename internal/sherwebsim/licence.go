package sherwebsim

import (
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// LicencePlant describes the licence scenarios planted by
// Config.LicenceScenarios in the default period's subscriptions (the
// quantities and charges are unchanged; only commitment terms are).
type LicencePlant struct {
	// Minimum: a subscription billed 2 seats fewer than subscribed whose
	// committed minimum in force at the period end (until MinimumUntil) is
	// its quantity − 1: a full reduction is blocked, a reduction by 1 is not.
	MinimumCustomer, MinimumSubscription, MinimumSKU string
	MinimumQuantity                                  int64
	MinimumUntil                                     billing.Date
	// NoCommitment: a subscription billed 2 seats fewer than subscribed with
	// no commitment term (it keeps its fees).
	NoCommitmentCustomer, NoCommitmentSubscription, NoCommitmentSKU string
	// Renewing: an annual subscription whose term ends 20 days after the
	// period end and renews the day after (within 30 days).
	RenewingCustomer, RenewingSubscription string
	RenewingTermEnd, RenewingDate          billing.Date

	minimum, noCommit, renewing [2]int // customer index, subscription index
}

// subExtra is a planted commitment term (encoded by appendExtraCommitment).
type subExtra struct {
	none      bool // commitmentTerm: null
	typ       string
	termEnd   billing.Date
	renewal   billing.Date // "" = renewalConfiguration null
	minimums  [][2]string  // committedUntil, quantity
	minimumsN bool         // committedMinimalQuantities null
}

// LicenceScenarios returns what Config.LicenceScenarios planted (nil when off).
func (s *Server) LicenceScenarios() *LicencePlant { return s.licence }

func addDays(d billing.Date, n int) billing.Date {
	return billing.Date(d.Time().AddDate(0, 0, n).Format("2006-01-02"))
}

// plantLicence chooses the subscriptions of the scenarios, in customer order.
func (s *Server) plantLicence() *LicencePlant {
	pi := s.defaultPeriod()
	end := pi.p.To
	lp := &LicencePlant{minimum: [2]int{-1, -1}, noCommit: [2]int{-1, -1}, renewing: [2]int{-1, -1}}
	for ci := range s.gen.customers {
		subs := s.gen.subscriptions(pi, ci)
		fewer := map[string]bool{}
		_ = s.gen.eachGroup(pi, ci, func(gr *group) error {
			if gr.scenario == scQuantityAndMargin {
				fewer[gr.sku] = true
			}
			return nil
		})
		for i := range subs {
			sub := &subs[i]
			id := s.gen.customers[ci].ID
			switch {
			case fewer[sub.sku] && sub.commitment == "Monthly" && lp.minimum[0] < 0:
				lp.minimum = [2]int{ci, i}
				lp.MinimumCustomer, lp.MinimumSubscription, lp.MinimumSKU = id, sub.id.String(), sub.sku
				lp.MinimumQuantity, lp.MinimumUntil = sub.quantity-1, addDays(end, 5)
			case fewer[sub.sku] && sub.commitment == "Monthly" && lp.noCommit[0] < 0 && ci != lp.minimum[0]:
				lp.noCommit = [2]int{ci, i}
				lp.NoCommitmentCustomer, lp.NoCommitmentSubscription, lp.NoCommitmentSKU = id, sub.id.String(), sub.sku
			case sub.commitment == "Annual" && lp.renewing[0] < 0:
				lp.renewing = [2]int{ci, i}
				lp.RenewingCustomer, lp.RenewingSubscription = id, sub.id.String()
				lp.RenewingTermEnd, lp.RenewingDate = addDays(end, 20), addDays(end, 21)
			}
		}
	}
	return lp
}

// apply puts the planted terms on a customer's subscriptions.
func (lp *LicencePlant) apply(ci int, subs []subscription) {
	if lp == nil {
		return
	}
	for i := range subs {
		sub := &subs[i]
		switch [2]int{ci, i} {
		case lp.minimum:
			sub.extra = &subExtra{typ: "Monthly", termEnd: sub.termEnd, renewal: sub.renewal, minimums: [][2]string{
				{string(sub.committedUntil), strconv.FormatInt(sub.quantity, 10)},
				{string(lp.MinimumUntil), strconv.FormatInt(lp.MinimumQuantity, 10)},
			}}
		case lp.noCommit:
			sub.extra = &subExtra{none: true}
		case lp.renewing:
			sub.extra = &subExtra{typ: "Annual", termEnd: lp.RenewingTermEnd, renewal: lp.RenewingDate, minimumsN: true}
		}
	}
}

// appendExtraCommitment writes a planted commitmentTerm value.
func appendExtraCommitment(b []byte, s *subscription) []byte {
	x := s.extra
	if x.none {
		return append(b, "null"...)
	}
	b = append(b, `{"type":`...)
	b = billing.AppendJSONString(b, x.typ)
	b = append(b, `,"termEndDate":`...)
	b = appendDate(b, x.termEnd)
	b = append(b, `,"renewalConfiguration":`...)
	if x.renewal == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"renewalDate":`...)
		b = appendDate(b, x.renewal)
		b = append(b, `,"scheduledQuantity":null}`...)
	}
	b = append(b, `,"committedMinimalQuantities":`...)
	if x.minimumsN {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range x.minimums {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"committedUntil":`...)
			b = appendDate(b, billing.Date(m[0]))
			b = append(b, `,"quantity":`...)
			b = append(b, m[1]...)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
