package ledger

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// A customer's SQLite rows are inserted in their table's key order (after run
// and customer), whatever the API's order: receivable lines by sku,
// charge_type, period_from, period_to, currency, charge_id, then line_no;
// subscriptions by id, content_hash, then line_no.
func TestCustomerRowsInsertionOrder(t *testing.T) {
	recv := func(i int, sku, chargeType, currency, chargeID string) billing.ReceivableCharge {
		c := sampleReceivable(i)
		c.SKU, c.ChargeType, c.Currency, c.ChargeID = sku, chargeType, currency, chargeID
		return c
	}
	sub := func(i int, id, product string) billing.Subscription {
		s := sampleSubscription(i)
		s.ID, s.ProductName = id, product
		return s
	}
	d := CustomerData{CustomerID: "cust-o", Coverage: billing.CoverageAvailable, Period: october,
		Receivables: []billing.ReceivableCharge{
			recv(0, "SKU-b", "Recurring", "USD", "c1"), // 0
			recv(1, "SKU-a", "Usage", "USD", "c1"),     // 1
			recv(2, "SKU-a", "Recurring", "USD", "c9"), // 2
			recv(3, "SKU-a", "Recurring", "EUR", "c9"), // 3
			recv(4, "Sku-a", "Recurring", "USD", "c1"), // 4: after SKU-b in byte order
			recv(2, "SKU-a", "Recurring", "USD", "c9"), // 5: a duplicate of 2
		},
		Subscriptions: []billing.Subscription{
			sub(0, "sub-b", "B"), sub(1, "sub-a", "A2"), sub(2, "sub-a", "A1"), sub(3, "Sub-c", "C"),
		},
	}
	r := new(customerRows)
	r.encode(1, &d)
	if r.recvErr != nil || r.subsErr != nil {
		t.Fatal(r.recvErr, r.subsErr)
	}
	if want := []int{3, 2, 5, 1, 0, 4}; !slices.Equal(r.recvOrder, want) {
		t.Errorf("receivable lines inserted in order %v, want %v", r.recvOrder, want)
	}
	// sub-a twice: by content hash, whichever that is.
	hash := func(i int) string { return r.subscriptionRow(i)[subscriptionHashCol].s }
	wantSubs := []int{3, 1, 2, 0}
	if hash(2) < hash(1) {
		wantSubs = []int{3, 2, 1, 0}
	}
	if !slices.Equal(r.subsOrder, wantSubs) {
		t.Errorf("subscriptions inserted in order %v, want %v", r.subsOrder, wantSubs)
	}
	// The rows keep their line numbers (position in the API's response).
	for _, i := range r.recvOrder {
		if got := r.receivableRow(i)[2].value(); got != int64(i+1) {
			t.Errorf("receivable line %d stored with line_no %v", i, got)
		}
	}
	for _, i := range r.subsOrder {
		if got := r.subscriptionRow(i)[2].value(); got != int64(i+1) {
			t.Errorf("subscription %d stored with line_no %v", i, got)
		}
	}
}

// The payable lines keep their stream position as line_no, whatever order a
// chunk is inserted in (keyOrder), and every line is stored once: 1,000 lines
// (several chunks) in an order far from the key order.
func TestPayableLineNumbersFollowTheStream(t *testing.T) {
	s := MustOpen(t)
	var pay []*billing.PayableCharge
	for i := range 1000 {
		c := samplePayable((i * 389) % 1000) // charge ids out of order
		c.ChargeID = fmt.Sprintf("charge-%06d", (i*389)%1000)
		pay = append(pay, c)
	}
	id := storePayables(t, s, pay)
	rows, err := s.db.Query(s.db.Rebind("SELECT line_no, charge_id FROM payable_charges WHERE run_id = ?"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	for rows.Next() {
		var n int64
		var charge string
		if err := rows.Scan(&n, &charge); err != nil {
			t.Fatal(err)
		}
		if n < 1 || n > int64(len(pay)) || seen[n] {
			t.Fatalf("line_no %d out of range or repeated", n)
		}
		seen[n] = true
		if want := pay[n-1].ChargeID; charge != want {
			t.Errorf("line_no %d holds charge %s, the stream's line %d is %s", n, charge, n, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(pay) {
		t.Errorf("%d lines stored, %d sent", len(seen), len(pay))
	}
}

// A chunk of payable lines is inserted in the table's key order after
// run_id: customer_ord (the customer key's number, in order of first
// appearance in the stream), sku, charge_type, period_from, period_to,
// currency, charge_id, then the stream position; the numbers go on across
// chunks.
func TestPayableChunkKeyOrder(t *testing.T) {
	line := func(customer, sku, chargeID string) *billing.PayableCharge {
		c := samplePayable(0)
		c.Tags = []billing.Tag{{Name: "CustomerId", Value: customer}}
		c.SKU, c.ChargeID = sku, chargeID
		return c
	}
	noTag := samplePayable(1)
	noTag.Tags = nil // customer_key ""
	lines := []*billing.PayableCharge{
		line("cust-b", "SKU-a", "c1"), // 0
		line("cust-a", "SKU-b", "c1"), // 1
		line("cust-a", "SKU-a", "c2"), // 2
		noTag,                         // 3
		line("cust-a", "SKU-a", "c1"), // 4
		line("cust-a", "SKU-a", "c1"), // 5: a duplicate of 4, after it
	}
	var w payableWriter
	got := w.keyOrder(nil, lines)
	if want := []int{0, 4, 5, 2, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("payable lines inserted in order %v, want %v", got, want)
	}
	for i, c := range lines {
		if w.keys[i] != customerKey(c.Tags) {
			t.Errorf("line %d: key %q, want %q", i, w.keys[i], customerKey(c.Tags))
		}
	}
	if want := []int64{1, 2, 2, 3, 2, 2}; !slices.Equal(w.ords, want) {
		t.Errorf("customer numbers %v, want %v", w.ords, want)
	}
	// The next chunk: a known key keeps its number, a new one gets the next.
	got = w.keyOrder(got, []*billing.PayableCharge{line("cust-c", "SKU-a", "c1"), line("cust-a", "SKU-z", "c1")})
	if want := []int{1, 0}; !slices.Equal(got, want) {
		t.Errorf("second chunk inserted in order %v, want %v", got, want)
	}
	if want := []int64{4, 2}; !slices.Equal(w.ords, want) {
		t.Errorf("second chunk: customer numbers %v, want %v", w.ords, want)
	}
	if want := []string{"cust-b", "cust-a", "", "cust-c"}; !slices.Equal(w.customers.keys, want) {
		t.Errorf("customer keys by number %q, want %q", w.customers.keys, want)
	}
}

// The insertion order is the order of every key field in turn, on random
// lines that tie on any prefix of them (the comparison stops at the first
// field that differs).
func TestCustomerRowsInsertionOrderRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	for range 50 {
		d := CustomerData{CustomerID: "cust-r", Coverage: billing.CoverageAvailable, Period: october}
		for i := range 60 {
			c := sampleReceivable(i)
			c.SKU, c.ChargeType, c.Currency, c.ChargeID = pick("A", "B", "a"), pick("Recurring", "Usage"), pick("USD", "CAD"), pick("c1", "c2", "")
			c.PeriodFrom, c.PeriodTo = billing.Date(pick("2026-10-01", "2026-09-15")), billing.Date(pick("2026-10-31", "2026-10-30"))
			d.Receivables = append(d.Receivables, c)
		}
		rows := new(customerRows)
		rows.encode(1, &d)
		want := make([]int, len(d.Receivables))
		for i := range want {
			want[i] = i
		}
		slices.SortStableFunc(want, func(a, b int) int {
			x, y := &d.Receivables[a], &d.Receivables[b]
			return cmp.Or(strings.Compare(x.SKU, y.SKU), strings.Compare(x.ChargeType, y.ChargeType),
				strings.Compare(string(x.PeriodFrom), string(y.PeriodFrom)), strings.Compare(string(x.PeriodTo), string(y.PeriodTo)),
				strings.Compare(x.Currency, y.Currency), strings.Compare(x.ChargeID, y.ChargeID))
		})
		if !slices.Equal(rows.recvOrder, want) {
			t.Fatalf("order %v, want %v", rows.recvOrder, want)
		}
	}
}
