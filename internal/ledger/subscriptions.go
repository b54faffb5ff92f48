package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// SubscriptionsMissing returns the customers of a run whose subscriptions
// call failed (subscriptions: missing); they take no part in the licence
// check and the commitments.
func (s *Store) SubscriptionsMissing(ctx context.Context, runID int64) (map[string]bool, error) {
	q, err := s.stmt(qListSubscriptionsMissing)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions coverage (run %d): %w", runID, err)
	}
	var ids []string
	if err := sqlx.SelectContext(ctx, s.db, &ids, q, runID); err != nil {
		return nil, fmt.Errorf("read subscriptions coverage (run %d): %w", runID, err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// SubscriptionsAsRead returns one customer's subscriptions as Subscriptions
// reads them back once SaveCustomer stored them: in its order (by id, then
// content hash) and with each quantity as its stored text reads (the exact
// value; a positive exponent is written out: 1E+3 reads back as 1000). The
// close uses it to run the licence check on what it fetched, at the commit,
// instead of reading the subscriptions back. The result is appended to
// dst[:0]; subs is not modified. The other fields are as given (the
// strings and the commitment term are stored as they are; the fees' amounts
// get the quantity's treatment).
func SubscriptionsAsRead(dst []billing.Subscription, customerID string, subs []billing.Subscription) []billing.Subscription {
	dst = dst[:0]
	sorted := true
	for i := 1; i < len(subs) && sorted; i++ {
		sorted = subs[i-1].ID < subs[i].ID
	}
	if sorted {
		dst = append(dst, subs...)
	} else {
		// Sort the indexes (cheaper to move than the subscriptions).
		order := make([]int32, len(subs))
		for i := range order {
			order[i] = int32(i)
		}
		var enc canon
		hash := func(s *billing.Subscription) string {
			enc.reset()
			enc.subscription(customerID, s)
			return enc.hash()
		}
		slices.SortFunc(order, func(i, j int32) int {
			a, b := &subs[i], &subs[j]
			if c := strings.Compare(a.ID, b.ID); c != 0 {
				return c
			}
			return strings.Compare(hash(a), hash(b)) // rare: two subscriptions with one id (equal hashes: equal contents)
		})
		for _, i := range order {
			dst = append(dst, subs[i])
		}
	}
	for i := range dst {
		s := &dst[i]
		s.Quantity = asStored(s.Quantity)
		if f := s.Fees; f != nil {
			if rf, sf := asStored(f.RecurringFee), asStored(f.SetupFee); !sameText(rf, f.RecurringFee) || !sameText(sf, f.SetupFee) {
				s.Fees = &billing.SubscriptionFees{RecurringFee: rf, SetupFee: sf, Currency: f.Currency}
			}
		}
	}
	return dst
}

// asStored is a decimal as its stored text (appendDecimal) reads back.
func asStored(d decimal.NullDecimal) decimal.NullDecimal {
	if !d.Valid || d.Decimal.Exponent() <= 0 && d.Decimal.NumDigits() <= 18 {
		return d // the fast path of appendDecimal writes every digit of the coefficient
	}
	v, err := billing.ParseText(string(appendDecimal(nil, d.Decimal)))
	if err != nil {
		return d // not reached: appendDecimal writes a decimal
	}
	return decimal.NullDecimal{Decimal: v, Valid: true}
}

func sameText(a, b decimal.NullDecimal) bool {
	return a.Valid == b.Valid && a.Decimal.Exponent() == b.Decimal.Exponent() && a.Decimal.Equal(b.Decimal)
}
