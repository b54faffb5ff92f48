package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Run is one fetch of one billing period.
type Run struct {
	ID            int64
	RequestedDate billing.Date
	Period        billing.Period // returned by the payable response; empty until known
	Status        billing.RunStatus
	StartedAt     time.Time // UTC
	FinishedAt    time.Time // UTC; zero while running
	BaseURL       string
	ToolVersion   string
	Calls         int64
	Retries       int64
	TokenRequests int64
	Settings      string // JSON object text of the run's settings (concurrency, tolerance, ...)
	Error         string // why it failed / is partial
}

// RunStats are the API call counters recorded when a run finishes.
type RunStats struct{ Calls, Retries, TokenRequests int64 }

// timeLayout is RFC 3339 UTC with a fixed nine-digit fraction, so stored
// instants sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// validDate reports whether d is exactly a "yyyy-MM-dd" date.
func validDate(d billing.Date) bool {
	_, err := time.Parse("2006-01-02", string(d))
	return err == nil
}

// BeginRun inserts a new run with status "running" and returns its id. The
// Status, Period, FinishedAt and counters of r are ignored. The run holds a
// lease renewed by a heartbeat until FinishRun (or Close); in the same
// transaction, every running run whose lease expired (its process died) is
// marked abandoned.
func (s *Store) BeginRun(ctx context.Context, r Run) (int64, error) {
	if !validDate(r.RequestedDate) {
		return 0, fmt.Errorf("begin run: invalid requested date %q (want yyyy-MM-dd)", r.RequestedDate)
	}
	settings := r.Settings
	if settings == "" {
		settings = "{}"
	}
	if !json.Valid([]byte(settings)) {
		return 0, fmt.Errorf("begin run: settings are not valid JSON: %.80q", settings)
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		now := time.Now()
		if _, err := s.abandonExpired(ctx, tx, now); err != nil {
			return err
		}
		return tx.QueryRowxContext(ctx, s.q[qInsertRun],
			string(r.RequestedDate), string(billing.RunRunning), formatTime(r.StartedAt),
			r.BaseURL, r.ToolVersion, settings, r.Error, s.holder, formatTime(now.Add(s.leaseTTL)),
		).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("begin run for %s: %w", r.RequestedDate, err)
	}
	s.startRunLease(id)
	return id, nil
}

// FinishRun records a running run's final status, its call counters, the
// error text (why it failed or is partial) and when it finished. The status
// must be complete, partial or failed, and a run is finished only once.
//
// The update is committed with synchronous=FULL: the WAL is fsynced, so the
// final status and every row of the run written before it survive a power
// loss (the rest of the ledger runs with synchronous=NORMAL).
func (s *Store) FinishRun(ctx context.Context, id int64, status billing.RunStatus, stats RunStats, errText string, finishedAt time.Time) error {
	switch status {
	case billing.RunComplete, billing.RunPartial, billing.RunFailed:
	default:
		return fmt.Errorf("finish run %d: invalid final status %q", id, status)
	}
	s.leases.end(fmt.Sprintf("run %d", id))
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	defer s.unlockWrite()
	if err := s.finishRun(ctx, id, status, stats, errText, finishedAt); err != nil {
		return fmt.Errorf("finish run %d as %s: %w", id, status, err)
	}
	// The run is written: its WAL frames go to the database file while the
	// reports are written (see checkpointer).
	s.checkpointAhead()
	return nil
}

func (s *Store) finishRun(ctx context.Context, id int64, status billing.RunStatus, stats RunStats, errText string, finishedAt time.Time) error {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, s.q[qSyncFull]); err != nil {
		return fmt.Errorf("set synchronous=FULL: %w", err)
	}
	// Back to NORMAL before the connection returns to the pool (even if ctx
	// has ended meanwhile).
	defer conn.ExecContext(context.WithoutCancel(ctx), s.q[qSyncNormal]) //nolint:errcheck // a FULL connection is only slower
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q[qFinishRun], string(status), stats.Calls, stats.Retries, stats.TokenRequests,
		errText, formatTime(finishedAt), id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		r, err := s.getRun(ctx, tx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("run is already %s", r.Status)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Run returns one run, or an error wrapping ErrNotFound.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := s.getRun(ctx, s.db, id)
	if err != nil {
		return Run{}, fmt.Errorf("read run %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) getRun(ctx context.Context, q sqlx.QueryerContext, id int64) (Run, error) {
	var row runRow
	if err := sqlx.GetContext(ctx, q, &row, s.q[qGetRun], id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Run{}, ErrNotFound
		}
		return Run{}, err
	}
	return row.run()
}

// Runs returns every run, newest first.
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	var rows []runRow
	if err := sqlx.SelectContext(ctx, s.db, &rows, s.q[qListRuns]); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]Run, 0, len(rows))
	for _, row := range rows {
		r, err := row.run()
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// FindRun returns the latest complete run whose period contains date; if
// there is none, the latest partial one. Failed and running runs are never
// returned. The error wraps ErrNotFound when no run matches.
func (s *Store) FindRun(ctx context.Context, date billing.Date) (Run, error) {
	if !validDate(date) {
		return Run{}, fmt.Errorf("find run for %q: invalid date (want yyyy-MM-dd)", date)
	}
	for _, status := range []billing.RunStatus{billing.RunComplete, billing.RunPartial} {
		var row runRow
		err := sqlx.GetContext(ctx, s.db, &row, s.q[qFindRun], string(status), string(date), string(date))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Run{}, fmt.Errorf("find run for %s: %w", date, err)
		}
		r, err := row.run()
		if err != nil {
			return Run{}, fmt.Errorf("find run for %s: %w", date, err)
		}
		return r, nil
	}
	return Run{}, fmt.Errorf("no complete or partial run covers %s: %w", date, ErrNotFound)
}

type runRow struct {
	ID            int64          `db:"id"`
	RequestedDate string         `db:"requested_date"`
	PeriodFrom    sql.NullString `db:"period_from"`
	PeriodTo      sql.NullString `db:"period_to"`
	Status        string         `db:"status"`
	StartedAt     string         `db:"started_at"`
	FinishedAt    sql.NullString `db:"finished_at"`
	BaseURL       string         `db:"base_url"`
	ToolVersion   string         `db:"tool_version"`
	Calls         int64          `db:"calls"`
	Retries       int64          `db:"retries"`
	TokenRequests int64          `db:"token_requests"`
	Settings      string         `db:"settings"`
	Error         string         `db:"error"`
}

func (row runRow) run() (Run, error) {
	r := Run{
		ID:            row.ID,
		RequestedDate: billing.Date(row.RequestedDate),
		Period:        billing.Period{From: billing.Date(nullString(row.PeriodFrom)), To: billing.Date(nullString(row.PeriodTo))},
		Status:        billing.RunStatus(row.Status),
		BaseURL:       row.BaseURL,
		ToolVersion:   row.ToolVersion,
		Calls:         row.Calls,
		Retries:       row.Retries,
		TokenRequests: row.TokenRequests,
		Settings:      row.Settings,
		Error:         row.Error,
	}
	var err error
	if r.StartedAt, err = parseTime(row.StartedAt); err != nil {
		return Run{}, fmt.Errorf("run %d: started_at: %w", row.ID, err)
	}
	if row.FinishedAt.Valid {
		if r.FinishedAt, err = parseTime(row.FinishedAt.String); err != nil {
			return Run{}, fmt.Errorf("run %d: finished_at: %w", row.ID, err)
		}
	}
	return r, nil
}
