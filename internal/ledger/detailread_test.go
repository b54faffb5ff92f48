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
	s := MustOpen(t)
	var pays []*billing.PayableCharge
	for i := range 300 {
		pays = append(pays, samplePayable(i))
	}
	pays = append(pays, tiedPayables()...)
	var recv []billing.ReceivableCharge
	for i := range 40 {
		recv = append(recv, sampleReceivable(i))
	}
	recv = append(recv, tiedReceivables()...)
	checkReusedReadsOf(t, s, pays, recv, transientReads)
}

// checkReusedReadsOf stores pays and recv (customer "a", available; "b"
// of another period and "c" with two lines besides) in a run and checks
// r's reads of it (checkReusedReads) with every detail positional, then
// with every other one the object of the rows written before 0008.
func checkReusedReadsOf(t *testing.T, s *Store, pays []*billing.PayableCharge, recv []billing.ReceivableCharge, r reusedReads) {
	t.Helper()
	id := storePayables(t, s, pays)
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, recv, nil)
	saveCustomerWithData(t, s, id, "b", billing.CoveragePeriodDiffers, []billing.ReceivableCharge{sampleReceivable(50)}, nil)
	saveCustomerWithData(t, s, id, "c", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(51), sampleReceivable(52)}, nil)
	for _, form := range []string{"positional", "mixed"} {
		if form == "mixed" {
			objectDetails(t, s, id, 2)
		}
		checkReusedReads(t, s, id, form, r, len(pays), len(recv)+2, len(tiedPayables())+2)
	}
}

// reusedReads are the reads of a run that reuse their charges, and how a
// caller of each keeps a line.
type reusedReads struct {
	name     string
	pay      func(*Store, context.Context, int64, func(*billing.PayableCharge) error) error
	recv     func(*Store, context.Context, int64, func(string, *billing.ReceivableCharge) error) error
	keepPay  func(*billing.PayableCharge) billing.PayableCharge
	keepRecv func(string, *billing.ReceivableCharge) (string, billing.ReceivableCharge)
}

// transientReads may keep a line's strings and slices: a copy of the
// charge is enough.
var transientReads = reusedReads{
	name: "transient", pay: (*Store).EachPayableTransient, recv: (*Store).EachReceivableTransient,
	keepPay:  func(c *billing.PayableCharge) billing.PayableCharge { return *c },
	keepRecv: func(id string, c *billing.ReceivableCharge) (string, billing.ReceivableCharge) { return id, *c },
}

// checkReusedReads: r's reads of run id yield the lines of EachPayable and
// EachReceivable (nPay and nRecv of them), in the same order, with every
// field equal, and reuse at most maxCharges payable charges (a group of
// ties, the next line and one spare).
func checkReusedReads(t *testing.T, s *Store, id int64, form string, r reusedReads, nPay, nRecv, maxCharges int) {
	t.Helper()
	ctx := context.Background()
	want := readPayables(t, s, id)
	var got []billing.PayableCharge
	seen := map[*billing.PayableCharge]bool{}
	if err := r.pay(s, ctx, id, func(c *billing.PayableCharge) error {
		seen[c] = true
		got = append(got, r.keepPay(c))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) != nPay {
		t.Fatalf("%s, %s: the payable read yielded %d lines, EachPayable %d, stored %d", r.name, form, len(got), len(want), nPay)
	}
	for i := range want {
		for _, d := range diff(*want[i], got[i]) {
			t.Errorf("%s, %s: payable line %d: %s", r.name, form, i, d)
		}
	}
	if len(seen) > maxCharges {
		t.Errorf("%s, %s: the payable read used %d charges for %d lines, want them reused", r.name, form, len(seen), len(got))
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
	if err := r.recv(s, ctx, id, func(cid string, c *billing.ReceivableCharge) error {
		k, kc := r.keepRecv(cid, c)
		gotR = append(gotR, rline{k, kc})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(wantR) != nRecv || len(gotR) != len(wantR) {
		t.Fatalf("%s, %s: the receivable read yielded %d lines, EachReceivable %d, want %d", r.name, form, len(gotR), len(wantR), nRecv)
	}
	for i := range wantR {
		for _, d := range diff(wantR[i], gotR[i]) {
			t.Errorf("%s, %s: receivable line %d: %s", r.name, form, i, d)
		}
	}
}

// storeSmallRun stores a run of 20 payable lines and a customer with two
// receivable lines.
func storeSmallRun(t *testing.T, s *Store) (int64, []*billing.PayableCharge) {
	t.Helper()
	var pays []*billing.PayableCharge
	for i := range 20 {
		pays = append(pays, samplePayable(i))
	}
	id := storePayables(t, s, pays)
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1), sampleReceivable(2)}, nil)
	return id, pays
}

// TestTransientReadsErrors: fn's error stops a transient read (returned as
// is for the payable lines, wrapped for the receivable lines, as
// EachPayable and EachReceivable do), a bad stored line is named, and a
// cancelled context stops the read.
func TestTransientReadsErrors(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	id, pays := storeSmallRun(t, s)

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
