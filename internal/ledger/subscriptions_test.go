package ledger

import (
	"context"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// SubscriptionsAsRead is what Subscriptions reads back once the
// subscriptions are stored: the same order (ids out of order, two
// subscriptions with one id and different contents, in both input orders),
// the same quantities and fees (positive exponents and long coefficients
// included), and the input is left as it was.
func TestSubscriptionsAsReadIsTheStoredRead(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	big := decimal.RequireFromString("123456789012345678901.25")
	mk := func(i int, sid, product, qty string) billing.Subscription {
		sub := sampleSubscription(i)
		sub.ID, sub.ProductName = sid, product
		if qty == "" {
			sub.Quantity = decimal.NullDecimal{}
		} else {
			sub.Quantity = dec(qty)
		}
		return sub
	}
	exp := mk(4, "sub-e", "Exp", "")
	exp.Quantity = decimal.NullDecimal{Decimal: decimal.New(3, 2), Valid: true} // 3E+2
	exp.Fees = &billing.SubscriptionFees{RecurringFee: decimal.NullDecimal{Decimal: decimal.New(5, 1), Valid: true},
		SetupFee: decimal.NullDecimal{Decimal: big, Valid: true}, Currency: "USD"}
	cases := map[string][]billing.Subscription{
		"sorted":    {mk(0, "sub-a", "A", "1"), mk(1, "sub-b", "B", "2.50")},
		"unsorted":  {mk(0, "sub-c", "C", "1"), mk(1, "Sub-b", "B", "2"), mk(2, "sub-a", "A", "0.000"), exp},
		"same id":   {mk(0, "sub-x", "First", "1"), mk(1, "sub-x", "Second", "2"), mk(2, "sub-w", "W", "1")},
		"same id 2": {mk(1, "sub-x", "Second", "2"), mk(0, "sub-x", "First", "1"), mk(2, "sub-w", "W", "1")},
		"empty":     nil,
	}
	var dst []billing.Subscription
	for name, subs := range cases {
		customer := "cust-" + name
		saveCustomerWithData(t, s, id, customer, billing.CoverageAvailable, nil, subs)
		want, err := s.Subscriptions(ctx, id, customer)
		if err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(subs)
		dst = SubscriptionsAsRead(dst, customer, subs)
		if len(want) == 0 && len(dst) == 0 {
			continue // nil or empty: none
		}
		for _, d := range diff(want, dst) {
			t.Errorf("%s: %s", name, d)
		}
		for i := range want { // diff compares values; the text of the decimals too
			if q, w := dst[i].Quantity, want[i].Quantity; q.Valid != w.Valid || q.Decimal.Exponent() != w.Decimal.Exponent() {
				t.Errorf("%s: subscription %d quantity %v (exp %d), read back %v (exp %d)", name, i, q, q.Decimal.Exponent(), w, w.Decimal.Exponent())
			}
			if f, w := dst[i].Fees, want[i].Fees; f != nil && w != nil &&
				(f.RecurringFee.Decimal.Exponent() != w.RecurringFee.Decimal.Exponent() || f.SetupFee.Decimal.Exponent() != w.SetupFee.Decimal.Exponent()) {
				t.Errorf("%s: subscription %d fees %+v, read back %+v", name, i, *f, *w)
			}
		}
		for _, d := range diff(in, subs) {
			t.Errorf("%s: input changed: %s", name, d)
		}
	}
}
