package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Exception actions.
const (
	ActionAccept = "accept"
	ActionRevoke = "revoke"
)

// Exception is one entry of the append-only exceptions register (table
// exceptions): an acceptance of a finding's fingerprint, or the revocation
// of an acceptance.
type Exception struct {
	ID          int64
	Action      string // ActionAccept or ActionRevoke
	Fingerprint string
	Revokes     int64 // the acceptance a revocation revokes; 0 for acceptances
	Reason      string
	By          string
	CreatedAt   time.Time
	Amount      decimal.Decimal // acceptances: the group's receivable − payable at acceptance
	Currency    string
	Band        decimal.Decimal
	Until       string // acceptances: last period covered, YYYY-MM; "" open-ended
	RunID       int64  // acceptances: the run the finding was accepted from
	Kind        string
	CustomerID  string
	SKU         string
	// RevokedBy is the id of the revocation of an acceptance (0: in force);
	// filled by Exceptions.
	RevokedBy int64
}

type exceptionRow struct {
	ID          int64          `db:"id"`
	Action      string         `db:"action"`
	Fingerprint string         `db:"fingerprint"`
	Revokes     sql.NullInt64  `db:"revokes"`
	Reason      string         `db:"reason"`
	By          string         `db:"by_name"`
	CreatedAt   string         `db:"created_at"`
	Amount      sql.NullString `db:"amount"`
	Currency    sql.NullString `db:"currency"`
	Band        sql.NullString `db:"band"`
	Until       sql.NullString `db:"until_period"`
	RunID       sql.NullInt64  `db:"run_id"`
	Kind        string         `db:"kind"`
	CustomerID  string         `db:"customer_id"`
	SKU         string         `db:"sku"`
}

// RecordExceptions appends entries to the register in one transaction: all
// or nothing. A revocation must name an acceptance that exists and is not
// revoked yet (checked inside the transaction, so two revocations at once
// cannot both succeed). It returns the new ids, in order.
func (s *Store) RecordExceptions(ctx context.Context, entries []Exception) ([]int64, error) {
	for i, e := range entries {
		if err := validException(e); err != nil {
			return nil, fmt.Errorf("record exceptions: entry %d: %w", i+1, err)
		}
	}
	ids := make([]int64, 0, len(entries))
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		// writeTx may run this again after a serialization failure: the ids
		// of a rolled-back attempt are not the entries' ids.
		ids = ids[:0]
		var existing []Exception
		if hasRevoke(entries) {
			var err error
			if existing, err = s.listExceptions(ctx, tx); err != nil {
				return err
			}
		}
		for i, e := range entries {
			if e.Action == ActionRevoke {
				if err := checkRevocable(existing, e.Revokes); err != nil {
					return fmt.Errorf("entry %d: %w", i+1, err)
				}
			}
			var id int64
			err := tx.QueryRowxContext(ctx, s.q[qInsertException],
				e.Action, e.Fingerprint, nullInt(e.Revokes), e.Reason, e.By, formatTime(e.CreatedAt),
				nullDecimal(e.Action, e.Amount), nullStr(e.Currency, e.Action == ActionAccept), nullDecimal(e.Action, e.Band),
				nullStr(e.Until, false), nullInt(e.RunID), e.Kind, e.CustomerID, e.SKU,
			).Scan(&id)
			if err != nil {
				return fmt.Errorf("entry %d (%s %s): %w", i+1, e.Action, e.Fingerprint, err)
			}
			ids = append(ids, id)
			if e.Action == ActionRevoke {
				for j := range existing {
					if existing[j].ID == e.Revokes {
						existing[j].RevokedBy = id
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record exceptions: %w", err)
	}
	return ids, nil
}

func hasRevoke(es []Exception) bool {
	for _, e := range es {
		if e.Action == ActionRevoke {
			return true
		}
	}
	return false
}

func checkRevocable(existing []Exception, id int64) error {
	for _, x := range existing {
		if x.ID != id {
			continue
		}
		if x.Action != ActionAccept {
			return fmt.Errorf("register entry %d is a revocation, not an acceptance", id)
		}
		if x.RevokedBy != 0 {
			return fmt.Errorf("acceptance %d is already revoked (by entry %d)", id, x.RevokedBy)
		}
		return nil
	}
	return fmt.Errorf("no acceptance %d in the register: see 'reconcile exceptions --all'", id)
}

func validException(e Exception) error {
	if strings.TrimSpace(e.Reason) == "" {
		return fmt.Errorf("a reason is required")
	}
	if strings.TrimSpace(e.By) == "" {
		return fmt.Errorf("who (by) is required")
	}
	switch e.Action {
	case ActionAccept:
		if e.Fingerprint == "" || e.RunID == 0 {
			return fmt.Errorf("an acceptance needs a fingerprint and a run")
		}
		if e.Band.IsNegative() {
			return fmt.Errorf("band %s is negative", billing.Text(e.Band))
		}
		if e.Until != "" {
			if _, err := time.Parse("2006-01", e.Until); err != nil {
				return fmt.Errorf("until %q: want YYYY-MM", e.Until)
			}
		}
	case ActionRevoke:
		if e.Revokes == 0 {
			return fmt.Errorf("a revocation names the acceptance it revokes")
		}
	default:
		return fmt.Errorf("unknown action %q", e.Action)
	}
	return nil
}

// Exceptions returns the whole register in id order, each acceptance with
// the id of its revocation (RevokedBy), if any.
func (s *Store) Exceptions(ctx context.Context) ([]Exception, error) {
	out, err := s.listExceptions(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("read exceptions register: %w", err)
	}
	return out, nil
}

func (s *Store) listExceptions(ctx context.Context, q sqlx.QueryerContext) ([]Exception, error) {
	var rows []exceptionRow
	if err := sqlx.SelectContext(ctx, q, &rows, s.q[qListExceptions]); err != nil {
		return nil, err
	}
	out := make([]Exception, 0, len(rows))
	index := map[int64]int{}
	for _, r := range rows {
		e := Exception{
			ID: r.ID, Action: r.Action, Fingerprint: r.Fingerprint, Revokes: r.Revokes.Int64,
			Reason: r.Reason, By: r.By, Currency: r.Currency.String, Until: r.Until.String,
			RunID: r.RunID.Int64, Kind: r.Kind, CustomerID: r.CustomerID, SKU: r.SKU,
		}
		var err error
		if e.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
			return nil, fmt.Errorf("exception %d: created_at: %w", r.ID, err)
		}
		if r.Amount.Valid {
			if e.Amount, err = decimal.NewFromString(r.Amount.String); err != nil {
				return nil, fmt.Errorf("exception %d: amount %q: %w", r.ID, r.Amount.String, err)
			}
		}
		if r.Band.Valid {
			if e.Band, err = decimal.NewFromString(r.Band.String); err != nil {
				return nil, fmt.Errorf("exception %d: band %q: %w", r.ID, r.Band.String, err)
			}
		}
		index[e.ID] = len(out)
		out = append(out, e)
	}
	for _, e := range out {
		if e.Action == ActionRevoke {
			if i, ok := index[e.Revokes]; ok && out[i].RevokedBy == 0 {
				out[i].RevokedBy = e.ID
			}
		}
	}
	return out, nil
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullStr(v string, keepEmpty bool) any {
	if v == "" && !keepEmpty {
		return nil
	}
	return v
}

func nullDecimal(action string, d decimal.Decimal) any {
	if action != ActionAccept {
		return nil
	}
	return billing.Text(d)
}
