package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Amendment log events (see queries/migrations/0005_amendments.sql).
const (
	EventIntent    = "intent"
	EventSubmitted = "submitted"
	EventUnknown   = "unknown"
	EventRejected  = "rejected"
	EventRefused   = "refused"
	EventStatus    = "status"
	EventOutcome   = "outcome"
)

// AmendmentEvent is one row of the append-only amendments log.
type AmendmentEvent struct {
	Seq             int64
	At              time.Time
	Actor           string
	PlanHash        string
	RunID           int64
	PeriodFrom      string
	PeriodTo        string
	CustomerID      string
	SubscriptionID  string
	SKU             string
	Product         string
	CurrentQuantity int64
	NewQuantity     int64
	Event           string
	AmendmentID     string
	Status          string
	Detail          string
}

func (s *Store) stmt(name string) (string, error) {
	q, ok := s.q[name]
	if !ok {
		return "", fmt.Errorf("statement %q not found in queries/*.sql", name)
	}
	return q, nil
}

// AppendAmendmentEvents appends events to the amendments log in one
// transaction committed with synchronous=FULL: when it returns, the events
// survive a crash of the process and a power loss. The intent of an entry
// is recorded this way before its POST is sent.
func (s *Store) AppendAmendmentEvents(ctx context.Context, events []AmendmentEvent) error {
	if len(events) == 0 {
		return nil
	}
	q, err := s.stmt(qInsertAmendmentEvent)
	if err != nil {
		return fmt.Errorf("append to the amendments log: %w", err)
	}
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("append to the amendments log: %w", err)
	}
	defer s.unlockWrite()
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("append to the amendments log: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, s.q[qSyncFull]); err != nil {
		return fmt.Errorf("append to the amendments log: set synchronous=FULL: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), s.q[qSyncNormal]) //nolint:errcheck // a FULL connection is only slower
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append to the amendments log: begin: %w", err)
	}
	defer tx.Rollback()
	for _, e := range events {
		if _, err := tx.ExecContext(ctx, q, formatTime(e.At), e.Actor, e.PlanHash, e.RunID, e.PeriodFrom, e.PeriodTo,
			e.CustomerID, e.SubscriptionID, e.SKU, e.Product, e.CurrentQuantity, e.NewQuantity, e.Event,
			e.AmendmentID, e.Status, e.Detail); err != nil {
			return fmt.Errorf("append to the amendments log: subscription %s %s: %w", e.SubscriptionID, e.Event, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append to the amendments log: commit: %w", err)
	}
	return nil
}

// AmendmentLog returns the amendments log in the order it was written; with
// periodFrom set, only the events of plans for that period.
func (s *Store) AmendmentLog(ctx context.Context, periodFrom string) ([]AmendmentEvent, error) {
	name, args := qListAmendmentEvents, []any{}
	if periodFrom != "" {
		name, args = qListAmendmentEventsPeriod, []any{periodFrom}
	}
	q, err := s.stmt(name)
	if err != nil {
		return nil, fmt.Errorf("read the amendments log: %w", err)
	}
	var rows []struct {
		Seq             int64  `db:"seq"`
		At              string `db:"at"`
		Actor           string `db:"actor"`
		PlanHash        string `db:"plan_hash"`
		RunID           int64  `db:"run_id"`
		PeriodFrom      string `db:"period_from"`
		PeriodTo        string `db:"period_to"`
		CustomerID      string `db:"customer_id"`
		SubscriptionID  string `db:"subscription_id"`
		SKU             string `db:"sku"`
		Product         string `db:"product"`
		CurrentQuantity int64  `db:"current_quantity"`
		NewQuantity     int64  `db:"new_quantity"`
		Event           string `db:"event"`
		AmendmentID     string `db:"amendment_id"`
		Status          string `db:"status"`
		Detail          string `db:"detail"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("read the amendments log: %w", err)
	}
	out := make([]AmendmentEvent, len(rows))
	for i, r := range rows {
		at, err := parseTime(r.At)
		if err != nil {
			return nil, fmt.Errorf("read the amendments log: event %d: %w", r.Seq, err)
		}
		out[i] = AmendmentEvent{Seq: r.Seq, At: at, Actor: r.Actor, PlanHash: r.PlanHash, RunID: r.RunID,
			PeriodFrom: r.PeriodFrom, PeriodTo: r.PeriodTo, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID,
			SKU: r.SKU, Product: r.Product, CurrentQuantity: r.CurrentQuantity, NewQuantity: r.NewQuantity,
			Event: r.Event, AmendmentID: r.AmendmentID, Status: r.Status, Detail: r.Detail}
	}
	return out, nil
}
