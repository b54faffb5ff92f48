package ledger

import (
	"context"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// forReconcile is c with only the fields DecodeForReconcile reads.
func payableForReconcile(c *billing.PayableCharge) billing.PayableCharge {
	return billing.PayableCharge{SKU: c.SKU, ChargeType: c.ChargeType, PeriodFrom: c.PeriodFrom, PeriodTo: c.PeriodTo,
		Currency: c.Currency, ChargeID: c.ChargeID, SubTotal: c.SubTotal, Quantity: c.Quantity,
		ProductName: c.ProductName, NetPriceProrated: c.NetPriceProrated, Tags: c.Tags, Invoice: c.Invoice}
}

func receivableForReconcile(c *billing.ReceivableCharge) billing.ReceivableCharge {
	return billing.ReceivableCharge{SKU: c.SKU, ChargeID: c.ChargeID, ChargeType: c.ChargeType, PeriodFrom: c.PeriodFrom,
		PeriodTo: c.PeriodTo, Currency: c.Currency, Quantity: c.Quantity, CostPriceProrated: c.CostPriceProrated,
		ProductName: c.ProductName}
}

// TestRowsDecodeForReconcile: EachPayableRow/EachReceivableRow yield the lines
// of EachPayable/EachReceivable in the same order (ties included), and
// DecodeForReconcile gives the same values for every field the engine reads.
func TestRowsDecodeForReconcile(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	var pays []*billing.PayableCharge
	for i := range 60 {
		pays = append(pays, samplePayable(i))
	}
	// Lines equal up to charge_id, told apart by subTotal, quantity (null
	// first) and the hash: the reader orders them.
	for _, st := range []string{"2.0", "10", "2.00", ""} {
		c := samplePayable(7)
		c.ChargeID, c.SubTotal = "tie", dec("1")
		if st == "" {
			c.SubTotal.Valid = false
		} else {
			c.SubTotal = dec(st)
		}
		pays = append(pays, c)
	}
	id := storePayables(t, s, pays)
	var recv []billing.ReceivableCharge
	for i := range 12 {
		recv = append(recv, sampleReceivable(i))
	}
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, recv, nil)
	saveCustomerWithData(t, s, id, "b", billing.CoveragePeriodDiffers, []billing.ReceivableCharge{sampleReceivable(20)}, nil)
	saveCustomerWithData(t, s, id, "c", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(21), sampleReceivable(22)}, nil)

	// Both stored forms of the detail: the positional array of new lines,
	// then every other line as the object of the rows written before 0008.
	for _, form := range []string{"positional", "mixed"} {
		if form == "mixed" {
			objectDetails(t, s, id, 2)
		}
		t.Logf("detail form: %s", form)
		full := readPayables(t, s, id)
		var lean []billing.PayableCharge
		if err := s.EachPayableRow(ctx, id, func(r PayableRow) error {
			var c billing.PayableCharge
			if err := r.DecodeForReconcile(&c); err != nil {
				return err
			}
			lean = append(lean, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(lean) != len(full) || len(full) != len(pays) {
			t.Fatalf("EachPayableRow yielded %d lines, EachPayable %d, stored %d", len(lean), len(full), len(pays))
		}
		for i := range full {
			for _, d := range diff(payableForReconcile(full[i]), lean[i]) {
				t.Errorf("payable line %d: %s", i, d)
			}
		}

		type rline struct {
			id string
			c  billing.ReceivableCharge
		}
		var fullR, leanR []rline
		if err := s.EachReceivable(ctx, id, func(cid string, c *billing.ReceivableCharge) error {
			fullR = append(fullR, rline{cid, receivableForReconcile(c)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var others []string
		if err := s.EachReceivableRow(ctx, id, func(r ReceivableRow) error {
			if r.CustomerID != "a" && r.CustomerID != "c" {
				others = append(others, r.CustomerID) // period_differs: the caller skips them
				return nil
			}
			var c billing.ReceivableCharge
			if err := r.DecodeForReconcile(&c); err != nil {
				return err
			}
			leanR = append(leanR, rline{r.CustomerID, c})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(fullR) != 14 {
			t.Fatalf("EachReceivable yielded %d lines, want 14 (12 of a, 2 of c)", len(fullR))
		}
		if len(others) != 1 || others[0] != "b" {
			t.Errorf("EachReceivableRow yielded lines of %v beside a and c, want the one line of b (period_differs)", others)
		}
		for _, d := range diff(len(fullR), len(leanR)) {
			t.Fatal(d)
		}
		for i := range fullR {
			if fullR[i].id != leanR[i].id {
				t.Errorf("receivable line %d: customer %q, want %q", i, leanR[i].id, fullR[i].id)
			}
			for _, d := range diff(fullR[i].c, leanR[i].c) {
				t.Errorf("receivable line %d: %s", i, d)
			}
		}
	}
}

// TestRowsDecodeForReconcileRejectsBadDetail: the lean decoder still checks
// the detail object (unknown keys, broken JSON in a skipped value, bad money
// in a value it reads) and names the line.
func TestRowsDecodeForReconcileRejectsBadDetail(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ name, detail, want string }{
		{"unknown key", `{"productName":"p","bogus":1}`, `unknown key "bogus"`},
		{"broken skipped value", `{"fees":[{"name":"x",}]}`, "detail"},
		{"bad money", `{"netPriceProrated":"1e"}`, "detail"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpen(t)
			c := samplePayable(1)
			id := storePayables(t, s, []*billing.PayableCharge{c})
			saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1)}, nil)
			if _, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE payable_charges SET detail = ? WHERE run_id = ?"), tt.detail, id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE receivable_charges SET detail = ? WHERE run_id = ?"), tt.detail, id); err != nil {
				t.Fatal(err)
			}
			err := s.EachPayableRow(ctx, id, func(r PayableRow) error {
				var c billing.PayableCharge
				return r.DecodeForReconcile(&c)
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), c.ChargeID) {
				t.Errorf("payable: error %v, want one naming %s and %q", err, c.ChargeID, tt.want)
			}
			err = s.EachReceivableRow(ctx, id, func(r ReceivableRow) error {
				var c billing.ReceivableCharge
				return r.DecodeForReconcile(&c)
			})
			if tt.name == "bad money" {
				if err == nil { // productName only: the receivable detail has no netPriceProrated
					t.Errorf("receivable: no error for %s", tt.detail)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "customer a") {
				t.Errorf("receivable: error %v, want one naming customer a and %q", err, tt.want)
			}
		})
	}
}
