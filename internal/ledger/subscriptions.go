package ledger

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
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
