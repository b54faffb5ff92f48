package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// The receivable detail object (the rows written before 0008) is valid JSON that encoding/json reads the
// same way, and the hand-written reader accepts other key orders and
// whitespace.
func TestReceivableDetailJSON(t *testing.T) {
	for i := 0; i < 8; i++ {
		c := sampleReceivable(i)
		c.ChargeName = fmt.Sprintf("name \"%d\" \\ \n\t\x01 é 日本 \U0001F600", i)
		b := appendReceivableObject(nil, &c)
		if !json.Valid(b) {
			t.Fatalf("line %d: detail is not valid JSON: %s", i, b)
		}
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil || generic["chargeName"] != c.ChargeName {
			t.Fatalf("line %d: encoding/json reads chargeName %q (%v), want %q", i, generic["chargeName"], err, c.ChargeName)
		}
		other, err := json.MarshalIndent(generic, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{string(b), string(other)} {
			got := c
			got.ProductName, got.ChargeName, got.BillingCycleType, got.IsProratable = "x", "x", "x", ptr(true)
			if err := receivableDetail(src, &got); err != nil {
				t.Fatalf("line %d: receivableDetail(%s): %v", i, src, err)
			}
			for _, d := range diff(c, got) {
				t.Errorf("line %d: %s", i, d)
			}
		}
	}
	for _, bad := range []string{``, `{`, `{"productName":1}`, `{"nope":"x"}`, `{"isProratable":yes}`, `{} x`, `[]`} {
		if err := receivableDetail(bad, &billing.ReceivableCharge{}); err == nil {
			t.Errorf("receivableDetail(%q) succeeded", bad)
		}
	}
}

// Every field survives the lean row: empty strings, null vs false booleans,
// absent vs zero money, scales.
func TestReceivableLeanRowRoundTrip(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	want := []billing.ReceivableCharge{
		{ChargeID: "a", SKU: "S", Currency: "USD", Quantity: dec("1.50"), CostPriceProrated: dec("0.000"),
			IsProratable: ptr(false)},
		{ChargeID: "b", SKU: "S", Currency: "USD", ProductName: "P \"q\"", ChargeName: "", BillingCycleType: "Yearly",
			CostPrice: dec("-12.00"), IsProratable: ptr(true)},
		{ChargeID: "c", SKU: "S", Currency: "USD", ChargeName: "null", BillingCycleType: "",
			Quantity: dec("0"), CostPrice: dec("0"), CostPriceProrated: dec("1e3")},
	}
	saveCustomerWithData(t, s, id, "c1", billing.CoverageAvailable, want, nil)
	var got []billing.ReceivableCharge
	if err := s.EachReceivable(ctx, id, func(customerID string, c *billing.ReceivableCharge) error {
		if customerID != "c1" {
			t.Errorf("customer %q, want c1", customerID)
		}
		got = append(got, *c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		for _, d := range diff(want[i], got[i]) {
			t.Errorf("line %s: %s", want[i].ChargeID, d)
		}
	}
	var detail string
	if err := s.db.Get(&detail, "SELECT detail FROM receivable_charges WHERE charge_id = 'c'"); err != nil {
		t.Fatal(err)
	}
	if w := `[1,"","null","",null]`; detail != w {
		t.Errorf("detail = %s, want %s", detail, w)
	}
}
