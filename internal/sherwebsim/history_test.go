package sherwebsim

import (
	"reflect"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

var (
	histSep = billing.Period{From: "2026-09-01", To: "2026-09-30"}
	histNov = billing.Period{From: "2026-11-01", To: "2026-11-30"}
)

// The anchor month is identical with and without History.
func TestHistoryAnchorUnchanged(t *testing.T) {
	plain := New(Config{Seed: 7, Customers: 30})
	hist := New(Config{Seed: 7, Customers: 30, History: true})
	p := plain.DefaultPeriod()
	a, b := plain.Truth(p), hist.Truth(p)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("History changed the truth of the anchor month")
	}
	if len(b.Changes) != 0 {
		t.Fatalf("anchor month has changes: %+v", b.Changes)
	}
	var pa, pb []billing.PayableCharge
	_ = plain.EachPayable(p, func(c *billing.PayableCharge) error { pa = append(pa, *c); return nil })
	_ = hist.EachPayable(p, func(c *billing.PayableCharge) error { pb = append(pb, *c); return nil })
	if !reflect.DeepEqual(pa, pb) {
		t.Fatal("History changed the payable lines of the anchor month")
	}
}

func TestHistoryPlantedChanges(t *testing.T) {
	s := New(Config{Seed: 11, Customers: 40, History: true})
	kinds := map[string]int{}
	for _, p := range []billing.Period{histSep, histNov} {
		tr := s.Truth(p)
		for _, c := range tr.Changes {
			kinds[c.Kind]++
		}
	}
	for _, k := range []string{ChangeCustomerJoined, ChangeCustomerLeft, ChangeSeats, ChangePrice, ChangeSKUDropped,
		ChangeSKUAdded, ChangeReceivablesFail, ChangeUnattributed} {
		if kinds[k] == 0 {
			t.Errorf("no %s change planted (%v)", k, kinds)
		}
	}
	sep := s.Truth(histSep)
	// The customer that fails in September is missing there, and only there.
	failed := ""
	for _, c := range sep.Changes {
		if c.Kind == ChangeReceivablesFail {
			failed = c.CustomerID
		}
	}
	if sep.Missing[failed] != reasonFetchFailed {
		t.Errorf("customer %s: missing %q in September", failed, sep.Missing[failed])
	}
	if _, ok := s.Truth(histNov).Missing[failed]; ok {
		t.Error("the September failure is also in November")
	}
	// Dates are moved into the month.
	_ = s.EachPayable(histSep, func(c *billing.PayableCharge) error {
		if c.PeriodFrom < histSep.From || c.PeriodFrom > histSep.To {
			t.Fatalf("line %s starts %s, outside September", c.Describe(), c.PeriodFrom)
		}
		return nil
	})
	// Seats changes move the quantity of exactly that SKU.
	for _, c := range sep.Changes {
		if c.Kind != ChangeSeats {
			continue
		}
		q := func(p billing.Period) string {
			for _, l := range s.Receivables(c.CustomerID, p) {
				if l.SKU == c.SKU {
					return billing.Text(l.Quantity.Decimal)
				}
			}
			return ""
		}
		if q(histSep) == q(s.DefaultPeriod()) || q(histSep) == "" {
			t.Errorf("seats change on %s %s: quantity %s in September, %s in October", c.CustomerID, c.SKU, q(histSep), q(s.DefaultPeriod()))
		}
	}
}

func TestRestatementKnob(t *testing.T) {
	s := New(Config{Seed: 3, Customers: 20})
	p := s.DefaultPeriod()
	before := s.Truth(p)
	s.SetRestated(true)
	after := s.Truth(p)
	s.SetRestated(false)
	if !reflect.DeepEqual(before, s.Truth(p)) {
		t.Fatal("turning the knob off does not restore the period")
	}
	kinds := map[string]int{}
	for _, c := range after.Changes {
		kinds[c.Kind]++
		if c.Bucket != "restatement" {
			t.Errorf("restatement change %+v has bucket %s", c, c.Bucket)
		}
	}
	for _, k := range []string{ChangeRestated, ChangeRestatedAdded, ChangeRestatedRemoved} {
		if kinds[k] == 0 {
			t.Errorf("no %s planted: %v", k, kinds)
		}
	}
	if reflect.DeepEqual(before.CustomerRows, after.CustomerRows) {
		t.Error("restated period has the same customer rows")
	}
}
