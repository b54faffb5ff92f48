package ledger

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// keptPayable is a deep copy of a lent charge: every string, list, invoice
// and flag of its own (what a caller of EachPayableView would have to make
// to keep a line).
func keptPayable(c *billing.PayableCharge) billing.PayableCharge {
	k := *c
	k.Deductions, k.Fees, k.Taxes, k.Tags = slices.Clone(c.Deductions), slices.Clone(c.Fees), slices.Clone(c.Taxes), slices.Clone(c.Tags)
	if c.Invoice != nil {
		inv := *c.Invoice
		k.Invoice = &inv
	}
	k.IsBilled, k.IsProratable = keptBool(c.IsBilled), keptBool(c.IsProratable)
	for i := range k.Fees {
		k.Fees[i].IsTaxable = keptBool(k.Fees[i].IsTaxable)
	}
	ownPayable(&k)
	return k
}

func keptBool(p *bool) *bool {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

// tiedGroups returns n groups of size lines each, equal up to charge_id
// within a group (ties the reader orders by sub-total, quantity and content
// hash), with texts that need escapes on some.
func tiedGroups(n, size int) []*billing.PayableCharge {
	var out []*billing.PayableCharge
	for g := range n {
		for j := range size {
			c := samplePayable(1000 + g)
			c.SubTotal = dec(fmt.Sprintf("%d.%02d", size-j, g%100))
			if g%3 == 0 {
				c.ProductName = fmt.Sprintf("Q \"%d\" \\ é\n\t", j)
				c.Deductions = []billing.Deduction{{Code: "D\"1", Name: fmt.Sprintf("n%d", j), DeductionType: "t", TotalValue: dec("-1.50")}}
				c.Fees = []billing.Fee{{Name: "fee", UnitValue: dec("2"), TotalValue: dec("4.00"), IsTaxable: ptr(j%2 == 0)}}
				c.Taxes = []billing.Tax{{Name: "GST", AppliedRate: dec("0.05")}}
				c.Invoice = &billing.Invoice{Number: fmt.Sprintf("INV-%d", j), Date: "2026-11-01", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31"}
			}
			out = append(out, c)
		}
	}
	return out
}

// TestViewReadsMatch: EachPayableView and EachReceivableView yield the
// lines of EachPayable and EachReceivable, in the same order, with every
// field equal, in both stored forms of the detail, while reusing their
// charges. Groups of tied lines straddle the reader's batches of 256 rows
// (groups of 3: 256 is not a multiple), so lines held for their group's end
// outlive the batch their texts were lent from: without tieGroup.detach the
// lines read back from the reused buffer differ.
func TestViewReadsMatch(t *testing.T) {
	s := MustOpen(t)
	var pays []*billing.PayableCharge
	for i := range 400 {
		pays = append(pays, samplePayable(i))
	}
	pays = append(pays, tiedGroups(200, 3)...)
	pays = append(pays, tiedPayables()...)
	var recv []billing.ReceivableCharge
	for g := range 150 {
		for j := range 3 {
			c := sampleReceivable(100 + g)
			c.CostPriceProrated = dec(fmt.Sprintf("%d.5", 3-j))
			if g%4 == 0 {
				c.ProductName = fmt.Sprintf("R \"%d\" \\ ü", j)
			}
			recv = append(recv, c)
		}
	}
	for i := range 60 {
		recv = append(recv, sampleReceivable(i))
	}
	recv = append(recv, tiedReceivables()...)
	checkReusedReadsOf(t, s, pays, recv, viewReads)
}

// viewReads keep nothing of a lent line: a caller that keeps one needs a
// deep copy.
var viewReads = reusedReads{
	name: "view", pay: (*Store).EachPayableView, recv: (*Store).EachReceivableView,
	keepPay: keptPayable,
	keepRecv: func(id string, c *billing.ReceivableCharge) (string, billing.ReceivableCharge) {
		k := *c
		k.IsProratable = keptBool(c.IsProratable)
		ownReceivable(&k)
		return strings.Clone(id), k
	},
}

// TestViewReadsErrors: a lending read stops on fn's error and on a bad
// stored line as the transient read does, with the same errors.
func TestViewReadsErrors(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	id, pays := storeSmallRun(t, s)
	stop := fmt.Errorf("stop")
	n := 0
	if err := s.EachPayableView(ctx, id, func(*billing.PayableCharge) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	}); err != stop || n != 3 {
		t.Errorf("payable: fn's error after %d lines: got %v, want it as is after 3", n, err)
	}
	errT := s.EachReceivableTransient(ctx, id, func(string, *billing.ReceivableCharge) error { return stop })
	errV := s.EachReceivableView(ctx, id, func(string, *billing.ReceivableCharge) error { return stop })
	if errV == nil || errT == nil || errV.Error() != errT.Error() {
		t.Errorf("receivable: fn's error: view %v, transient %v", errV, errT)
	}
	if s.d.postgres() {
		return // sub_total is NUMERIC there: no bad text to store
	}
	if _, err := s.db.Exec(s.db.Rebind(`UPDATE payable_charges SET sub_total = '1e' WHERE run_id = ? AND charge_id = ?`), id, pays[4].ChargeID); err != nil {
		t.Fatal(err)
	}
	errV = s.EachPayableView(ctx, id, func(*billing.PayableCharge) error { return nil })
	errT = s.EachPayableTransient(ctx, id, func(*billing.PayableCharge) error { return nil })
	if errV == nil || errT == nil || errV.Error() != errT.Error() {
		t.Errorf("bad subTotal: view %v, transient %v", errV, errT)
	}
}

// TestOwnCopiesEveryString: ownPayable and ownReceivable leave no string of
// a charge (its lists' and invoice's included) pointing into the buffer it
// was lent from. Every string field is found by reflection, so a field
// added to the billing types without being added to them fails here.
func TestOwnCopiesEveryString(t *testing.T) {
	buf := []byte("lent text")
	lent := unsafe.String(&buf[0], len(buf))
	inBuf := func(s string) bool {
		if s == "" {
			return false
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		b := uintptr(unsafe.Pointer(&buf[0]))
		return p >= b && p < b+uintptr(len(buf))
	}
	pay := &billing.PayableCharge{
		Deductions: make([]billing.Deduction, 2), Fees: make([]billing.Fee, 1), Taxes: make([]billing.Tax, 1),
		Tags: make([]billing.Tag, 2), Invoice: &billing.Invoice{},
	}
	recv := &billing.ReceivableCharge{}
	for _, tc := range []struct {
		name string
		v    any
		min  int // string fields at the least
		own  func()
	}{
		{"payable charge", pay, 20, func() { ownPayable(pay) }},
		{"receivable charge", recv, 9, func() { ownReceivable(recv) }},
	} {
		if n := visitStrings(reflect.ValueOf(tc.v), func(v reflect.Value) { v.SetString(lent) }); n < tc.min {
			t.Fatalf("set %d string fields of a %s, want every one (%d or more)", n, tc.name, tc.min)
		}
		tc.own()
		visitStrings(reflect.ValueOf(tc.v), func(v reflect.Value) {
			if inBuf(v.String()) {
				t.Errorf("%s: a string field still points into the lent buffer after it was given its own", tc.name)
			}
		})
	}
}

// visitStrings calls f with every settable string reachable from v
// (structs, pointers, slice elements) and returns how many it visited.
func visitStrings(v reflect.Value, f func(reflect.Value)) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return visitStrings(v.Elem(), f)
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n += visitStrings(v.Field(i), f)
			}
		}
		return n
	case reflect.Slice:
		n := 0
		for i := range v.Len() {
			n += visitStrings(v.Index(i), f)
		}
		return n
	case reflect.String:
		if v.CanSet() {
			f(v)
			return 1
		}
	}
	return 0
}
