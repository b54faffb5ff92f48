package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// TestTransientReadsMatch: EachPayableTransient and EachReceivableTransient
// yield the lines of EachPayable and EachReceivable, in the same order
// (ties included), with every field equal, in both stored forms of the
// detail; a copy taken in fn is all a caller may keep.
func TestTransientReadsMatch(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	var pays []*billing.PayableCharge
	for i := range 300 {
		pays = append(pays, samplePayable(i))
	}
	pays = append(pays, tiedPayables()...)
	id := storePayables(t, s, pays)
	var recv []billing.ReceivableCharge
	for i := range 40 {
		recv = append(recv, sampleReceivable(i))
	}
	recv = append(recv, tiedReceivables()...)
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, recv, nil)
	saveCustomerWithData(t, s, id, "b", billing.CoveragePeriodDiffers, []billing.ReceivableCharge{sampleReceivable(50)}, nil)
	saveCustomerWithData(t, s, id, "c", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(51), sampleReceivable(52)}, nil)

	for _, form := range []string{"positional", "mixed"} {
		if form == "mixed" {
			objectDetails(t, s, id, 2)
		}
		want := readPayables(t, s, id)
		var got []billing.PayableCharge
		seen := map[*billing.PayableCharge]bool{}
		if err := s.EachPayableTransient(ctx, id, func(c *billing.PayableCharge) error {
			seen[c] = true
			got = append(got, *c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(want) != len(pays) {
			t.Fatalf("%s: EachPayableTransient yielded %d lines, EachPayable %d, stored %d", form, len(got), len(want), len(pays))
		}
		for i := range want {
			for _, d := range diff(*want[i], got[i]) {
				t.Errorf("%s: payable line %d: %s", form, i, d)
			}
		}
		if len(seen) > len(tiedPayables())+2 { // a group of ties, the next line and one spare
			t.Errorf("%s: EachPayableTransient used %d charges for %d lines, want them reused", form, len(seen), len(got))
		}

		type rline struct {
			ID string
			C  billing.ReceivableCharge
		}
		var wantR, gotR []rline
		if err := s.EachReceivable(ctx, id, func(cid string, c *billing.ReceivableCharge) error {
			wantR = append(wantR, rline{cid, *c})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.EachReceivableTransient(ctx, id, func(cid string, c *billing.ReceivableCharge) error {
			gotR = append(gotR, rline{cid, *c})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(wantR) != len(recv)+2 || len(gotR) != len(wantR) {
			t.Fatalf("%s: EachReceivableTransient yielded %d lines, EachReceivable %d, want %d", form, len(gotR), len(wantR), len(recv)+2)
		}
		for i := range wantR {
			for _, d := range diff(wantR[i], gotR[i]) {
				t.Errorf("%s: receivable line %d: %s", form, i, d)
			}
		}
	}
}

// TestTransientReadsErrors: fn's error stops a transient read (returned as
// is for the payable lines, wrapped for the receivable lines, as
// EachPayable and EachReceivable do), a bad stored line is named, and a
// cancelled context stops the read.
func TestTransientReadsErrors(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	var pays []*billing.PayableCharge
	for i := range 20 {
		pays = append(pays, samplePayable(i))
	}
	id := storePayables(t, s, pays)
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1), sampleReceivable(2)}, nil)

	stop := errors.New("stop")
	n := 0
	err := s.EachPayableTransient(ctx, id, func(*billing.PayableCharge) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Errorf("payable: fn's error after %d lines: got %v, want it as is after 3", n, err)
	}
	err = s.EachReceivableTransient(ctx, id, func(string, *billing.ReceivableCharge) error { return stop })
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "read receivable charges of run") {
		t.Errorf("receivable: fn's error: got %v, want it wrapped", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.EachPayableTransient(cctx, id, func(*billing.PayableCharge) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("payable, cancelled: got %v, want context.Canceled", err)
	}

	if s.d.postgres() {
		return // sub_total is NUMERIC there: no bad text to store
	}
	if _, err := s.db.Exec(s.db.Rebind(`UPDATE payable_charges SET sub_total = '1e' WHERE run_id = ? AND charge_id = ?`), id, pays[4].ChargeID); err != nil {
		t.Fatal(err)
	}
	err = s.EachPayableTransient(ctx, id, func(*billing.PayableCharge) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "read payable charges of run") || !strings.Contains(err.Error(), "subTotal") {
		t.Errorf("bad subTotal: got %v, want the read's error naming the field", err)
	}
	if want := s.EachPayable(ctx, id, func(*billing.PayableCharge) error { return nil }); err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("bad subTotal: got %v, EachPayable says %v", err, want)
	}
}
