package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Delivery outcomes.
const (
	DeliverySending   = "sending"   // started; a row left so means the process died mid-delivery
	DeliveryDelivered = "delivered" // the SMTP server accepted the message
	DeliveryFailed    = "failed"    // every attempt failed; nothing was accepted
)

// DeliveryAttachment is one attached file of a delivery.
type DeliveryAttachment struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Delivery is one attempt to deliver a run's report.
type Delivery struct {
	ID          int64
	RunID       int64
	Channel     string // "email"
	Recipients  []string
	Subject     string
	MessageID   string
	Attachments []DeliveryAttachment
	StartedAt   time.Time
	FinishedAt  time.Time // zero while sending
	Outcome     string    // DeliverySending, DeliveryDelivered or DeliveryFailed
	Attempts    int
	Error       string
}

// BeginDelivery records a delivery as "sending" before anything is sent and
// returns its id. Outcome, FinishedAt, Attempts and Error of d are ignored.
func (s *Store) BeginDelivery(ctx context.Context, d Delivery) (int64, error) {
	if d.RunID == 0 || d.Channel == "" {
		return 0, fmt.Errorf("begin delivery: run id and channel are required")
	}
	rcpt, err := json.Marshal(nonNil(d.Recipients))
	if err != nil {
		return 0, fmt.Errorf("begin delivery: %w", err)
	}
	att := d.Attachments
	if att == nil {
		att = []DeliveryAttachment{}
	}
	attJSON, err := json.Marshal(att)
	if err != nil {
		return 0, fmt.Errorf("begin delivery: %w", err)
	}
	var id int64
	err = s.writeTx(ctx, func(tx *sqlx.Tx) error {
		return tx.QueryRowxContext(ctx, s.q[qInsertDelivery],
			d.RunID, d.Channel, string(rcpt), d.Subject, d.MessageID, string(attJSON), formatTime(d.StartedAt),
		).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("begin delivery of run %d: %w", d.RunID, err)
	}
	return id, nil
}

// FinishDelivery records the outcome of a delivery that is still "sending".
func (s *Store) FinishDelivery(ctx context.Context, id int64, outcome string, attempts int, errText string, finishedAt time.Time) error {
	if outcome != DeliveryDelivered && outcome != DeliveryFailed {
		return fmt.Errorf("finish delivery %d: invalid outcome %q", id, outcome)
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q[qFinishDelivery], outcome, attempts, errText, formatTime(finishedAt), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("delivery %d is not sending", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish delivery %d: %w", id, err)
	}
	return nil
}

// Deliveries lists the deliveries of a run, oldest first.
func (s *Store) Deliveries(ctx context.Context, runID int64) ([]Delivery, error) {
	rows, err := s.db.QueryxContext(ctx, s.q[qListDeliveries], runID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d                  Delivery
			rcpt, att, started string
			finished           sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.RunID, &d.Channel, &rcpt, &d.Subject, &d.MessageID, &att,
			&started, &finished, &d.Outcome, &d.Attempts, &d.Error); err != nil {
			return nil, fmt.Errorf("list deliveries of run %d: %w", runID, err)
		}
		if err := json.Unmarshal([]byte(rcpt), &d.Recipients); err != nil {
			return nil, fmt.Errorf("delivery %d: recipients: %w", d.ID, err)
		}
		if err := json.Unmarshal([]byte(att), &d.Attachments); err != nil {
			return nil, fmt.Errorf("delivery %d: attachments: %w", d.ID, err)
		}
		if d.StartedAt, err = parseTime(started); err != nil {
			return nil, fmt.Errorf("delivery %d: started_at: %w", d.ID, err)
		}
		if f := nullString(finished); f != "" {
			if d.FinishedAt, err = parseTime(f); err != nil {
				return nil, fmt.Errorf("delivery %d: finished_at: %w", d.ID, err)
			}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries of run %d: %w", runID, err)
	}
	return out, nil
}

// LastDelivered is the latest delivered delivery of a run on channel, or
// ErrNotFound.
func (s *Store) LastDelivered(ctx context.Context, runID int64, channel string) (Delivery, error) {
	ds, err := s.Deliveries(ctx, runID)
	if err != nil {
		return Delivery{}, err
	}
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Outcome == DeliveryDelivered && ds[i].Channel == channel {
			return ds[i], nil
		}
	}
	return Delivery{}, ErrNotFound
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
