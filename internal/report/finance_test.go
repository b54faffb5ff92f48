package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func financeInput(ids ...string) Input {
	return Input{RunID: "r1", Period: engPeriod, Customers: engCustomers(ids...), Coverage: engAvailable(ids...), PayableOK: true}
}

func onInvoice(c billing.PayableCharge, number string, date billing.Date) billing.PayableCharge {
	c.Invoice = &billing.Invoice{Number: number, Date: date}
	return c
}

// The invoice rows of each currency add up, exactly, to the currency's
// payable total, the no-invoice row included.
func TestInvoicesTieOutToPayableTotals(t *testing.T) {
	pays := []billing.PayableCharge{
		onInvoice(engPay("A", "S1", "1", "10.005", "USD"), "INV-2", "2026-11-01"),
		onInvoice(engPay("B", "S2", "3", "0.10", "USD"), "INV-1", "2026-11-02"),
		onInvoice(engPay("", "S3", "1", "0.20", "USD"), "INV-1", "2026-11-01"), // unattributed still counts
		onInvoice(engPay("A", "S1", "1", "7", "CAD"), "INV-1", "2026-11-01"),
		engPay("A", "S4", "1", "99999999999999999999.01", "USD"), // no invoice, beyond int64
		engPay("B", "S4", "1", "-0.01", "USD"),
	}
	res := Reconcile(financeInput("A", "B"), pays, nil, Options{})
	got := []string{}
	for _, iv := range res.Invoices {
		got = append(got, iv.Currency+"|"+iv.Number+"|"+string(iv.Date)+"|"+billing.Text(iv.Payable)+"|"+string(rune('0'+iv.Lines)))
	}
	want := []string{
		"CAD|INV-1|2026-11-01|7|1",
		"USD|INV-1|2026-11-01|0.30|2", // smallest date of its lines
		"USD|INV-2|2026-11-01|10.005|1",
		"USD|||99999999999999999999.00|2", // no invoice: last
	}
	if !slices.Equal(got, want) {
		t.Fatalf("invoices\n got %q\nwant %q", got, want)
	}
	for _, tot := range res.Totals {
		var sum = engDec("0")
		for _, iv := range res.Invoices {
			if iv.Currency == tot.Currency {
				sum = sum.Add(iv.Payable)
			}
		}
		if sum.Cmp(tot.Payable) != 0 {
			t.Errorf("%s: invoices sum to %s, payable total %s", tot.Currency, sum, tot.Payable)
		}
	}
}

// Within a kind, findings are sorted by absolute difference, largest first;
// equal differences fall back to the customer id.
func TestFindingsSortedByAbsoluteDifference(t *testing.T) {
	pays := []billing.PayableCharge{
		engPay("A", "S1", "1", "5.00", "USD"),
		engPay("B", "S2", "1", "50.00", "USD"),
		engPay("C", "S3", "1", "5.00", "USD"),
		engPay("", "S9", "1", "1.00", "USD"),
		engPay("", "S8", "1", "-3.00", "USD"),
	}
	recs := map[string][]billing.ReceivableCharge{"A": {engRecv("S7", "1", "-20", "USD")}}
	res := Reconcile(financeInput("A", "B", "C"), pays, recs, Options{})
	var got []string
	for _, f := range res.Mismatches {
		got = append(got, f.Kind+"|"+f.CustomerID+"|"+f.SKU)
	}
	want := []string{
		"unattributed||S8", "unattributed||S9",
		"unbilled|B|S2", "unbilled|A|S1", "unbilled|C|S3",
		"unexpected_receivable|A|S7",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n got %q\nwant %q", got, want)
	}
	// Shuffled input, same order.
	slices.Reverse(pays)
	res2 := Reconcile(financeInput("C", "B", "A"), pays, recs, Options{})
	if a, b := engJSON(t, res), engJSON(t, res2); a != b {
		t.Error("order depends on input order")
	}
}

// Customers are sorted by name, then id, then currency.
func TestCustomersSortedByName(t *testing.T) {
	in := financeInput()
	in.Customers = []billing.Customer{{ID: "1", DisplayName: "Zeta"}, {ID: "2", DisplayName: "Alpha"}, {ID: "0", DisplayName: "Alpha"}}
	in.Coverage = engAvailable("0", "1", "2")
	pays := []billing.PayableCharge{
		engPay("1", "S", "1", "1", "USD"), engPay("2", "S", "1", "1", "USD"),
		engPay("0", "S", "1", "1", "USD"), engPay("0", "S", "1", "1", "CAD"),
	}
	res := Reconcile(in, pays, nil, Options{})
	var got []string
	for _, c := range res.Customers {
		got = append(got, c.CustomerName+"|"+c.CustomerID+"|"+c.Currency)
	}
	want := []string{"Alpha|0|CAD", "Alpha|0|USD", "Alpha|2|USD", "Zeta|1|USD"}
	if !slices.Equal(got, want) {
		t.Fatalf("customers %q, want %q", got, want)
	}
}

// An unattributed finding carries what is needed to act on it: the tags
// that failed to match, the charge id, the invoice number and the SKU.
func TestUnattributedFindingIsActionable(t *testing.T) {
	c := onInvoice(engPay("", "SKU-9", "2", "8.00", "USD"), " INV-7 ", "2026-11-01")
	c.ChargeID = "ch-42"
	c.Tags = engTags("CustomerDisplayName", "Nobody Inc", "Team", "ops")
	res := Reconcile(financeInput("A"), []billing.PayableCharge{c}, nil, Options{})
	if len(res.Mismatches) != 1 {
		t.Fatalf("findings %v", engFindings(res))
	}
	f := res.Mismatches[0]
	if f.Kind != KindUnattributed || f.Reason != ReasonUnknownCustomer || f.ChargeID != "ch-42" || f.Invoice != "INV-7" ||
		f.SKU != "SKU-9" || f.Tags != "CustomerDisplayName=Nobody Inc; Team=ops" {
		t.Fatalf("finding %+v", f)
	}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion string `json:"schema_version"`
		Mismatches    []map[string]any
		FindingCounts []struct {
			Kind    string
			Label   string
			Count   int
			Amounts []map[string]any
		} `json:"finding_counts"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Mismatches[0]
	for k, v := range map[string]string{
		"charge_id": "ch-42", "invoice": "INV-7", "tags": "CustomerDisplayName=Nobody Inc; Team=ops",
		"label": KindLabel(KindUnattributed), "fingerprint": Fingerprint(&f),
	} {
		if m[k] != v {
			t.Errorf("mismatch %s = %v, want %q", k, m[k], v)
		}
	}
	if doc.SchemaVersion != SchemaVersion {
		t.Errorf("schema_version %q", doc.SchemaVersion)
	}
	fc := doc.FindingCounts[1]
	if fc.Kind != KindUnattributed || fc.Count != 1 || len(fc.Amounts) != 1 || fc.Amounts[0]["difference"] != "-8.00" || fc.Label == "" {
		t.Errorf("finding_counts[1] = %+v", fc)
	}
}

// Every kind has a plain-language label of its own.
func TestKindLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range append(FindingKinds(), KindSubtotalIdentity) {
		l := KindLabel(k)
		if l == k || l == "" || seen[l] {
			t.Errorf("kind %s: label %q", k, l)
		}
		seen[l] = true
	}
	if KindLabel(KindUnbilled) != "Billed by Sherweb, not billed to the customer" {
		t.Errorf("unbilled label %q", KindLabel(KindUnbilled))
	}
}
