package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
)

// SetRunSettings replaces a running run's settings (a JSON object), e.g. to
// record what a retry reused once that is known. A finished run is
// immutable: the update fails.
func (s *Store) SetRunSettings(ctx context.Context, id int64, settings string) error {
	if !json.Valid([]byte(settings)) {
		return fmt.Errorf("set settings of run %d: not valid JSON: %.80q", id, settings)
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q[qSetRunSettings], settings, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, errors.New("the run is not running"))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set settings of run %d: %w", id, err)
	}
	return nil
}

// RunSummary is the small per-run summary `reconcile runs` shows: the
// findings count and the totals per currency of the run's reconciliation,
// stored when a report of the run is produced.
type RunSummary struct {
	RunID     int64
	Tolerance string // exact decimal text
	Findings  int
	Totals    []SummaryTotal // sorted by currency
}

// SummaryTotal is one currency's totals, as exact decimal texts.
type SummaryTotal struct {
	Currency   string `json:"currency"`
	Payable    string `json:"payable"`
	Receivable string `json:"receivable"`
	Margin     string `json:"margin"`
}

// PutRunSummary stores (or replaces) a run's summary.
func (s *Store) PutRunSummary(ctx context.Context, sum RunSummary, now time.Time) error {
	totals, err := json.Marshal(sum.Totals)
	if err != nil {
		return fmt.Errorf("store summary of run %d: %w", sum.RunID, err)
	}
	if sum.Totals == nil {
		totals = []byte("[]")
	}
	err = s.writeTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q[qPutRunSummary], sum.RunID, sum.Tolerance, sum.Findings, string(totals), formatTime(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("store summary of run %d: %w", sum.RunID, err)
	}
	return nil
}

// RunSummaries returns the stored summaries by run id.
func (s *Store) RunSummaries(ctx context.Context) (map[int64]RunSummary, error) {
	var rows []struct {
		RunID     int64  `db:"run_id"`
		Tolerance string `db:"tolerance"`
		Findings  int    `db:"findings"`
		Totals    string `db:"totals"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &rows, s.q[qListRunSummaries]); err != nil {
		return nil, fmt.Errorf("read run summaries: %w", err)
	}
	out := make(map[int64]RunSummary, len(rows))
	for _, r := range rows {
		sum := RunSummary{RunID: r.RunID, Tolerance: r.Tolerance, Findings: r.Findings}
		if err := json.Unmarshal([]byte(r.Totals), &sum.Totals); err != nil {
			return nil, fmt.Errorf("read summary of run %d: totals: %w", r.RunID, err)
		}
		out[r.RunID] = sum
	}
	return out, nil
}

// RunReference is a table (and column) whose rows may refer to a run: a run
// they refer to is never pruned. Tables that do not exist (yet) are skipped,
// so a feature that adds such a table only adds it to RunReferences.
type RunReference struct {
	Table, Column, What string
}

// RunReferences are the tables that may refer to runs.
var RunReferences = []RunReference{
	{Table: "exceptions", Column: "run_id", What: "an exception"},
	{Table: "deliveries", Column: "run_id", What: "an e-mail delivery"},
	{Table: "amendments", Column: "run_id", What: "an amendment"},
	{Table: "comparisons", Column: "base_run_id", What: "a comparison"},
	{Table: "comparisons", Column: "run_id", What: "a comparison"},
}

// ReferencedRuns returns the runs that rows of RunReferences refer to, with
// what refers to them.
func (s *Store) ReferencedRuns(ctx context.Context) (map[int64]string, error) {
	out := map[int64]string{}
	for _, ref := range RunReferences {
		n, err := s.count(ctx, s.db, qColumnExists, ref.Table, ref.Column)
		if err != nil {
			return nil, fmt.Errorf("look for %s.%s: %w", ref.Table, ref.Column, err)
		}
		if n == 0 {
			continue // no such table (or column) in this ledger
		}
		// The names come from RunReferences, never from input.
		q := fmt.Sprintf(`SELECT DISTINCT %q FROM %q WHERE %q IS NOT NULL`, ref.Column, ref.Table, ref.Column)
		var ids []int64
		if err := sqlx.SelectContext(ctx, s.db, &ids, q); err != nil {
			return nil, fmt.Errorf("read %s.%s: %w", ref.Table, ref.Column, err)
		}
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				out[id] = ref.What
			}
		}
	}
	return out, nil
}

// DeleteRuns deletes runs and everything stored for them, in one
// transaction. It refuses (deleting nothing) a run that a RunReferences row
// refers to. Which runs may go (not one still running) is the caller's
// policy.
func (s *Store) DeleteRuns(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	refs, err := s.ReferencedRuns(ctx)
	if err != nil {
		return fmt.Errorf("delete runs: %w", err)
	}
	ids = append([]int64(nil), ids...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.writeTx(ctx, func(tx *sqlx.Tx) error {
		for _, id := range ids {
			if what, ok := refs[id]; ok {
				return fmt.Errorf("delete run %d: %s refers to it", id, what)
			}
			if _, err := s.getRun(ctx, tx, id); err != nil {
				return fmt.Errorf("delete run %d: %w", id, err)
			}
			for _, q := range []string{qDeleteRunSubscriptions, qDeleteRunReceivables, qDeleteRunCoverage,
				qDeleteRunCustomers, qDeleteRunPayables, qDeletePayableCustomers, qDeleteRunSummary, qDeleteRun} {
				if _, err := tx.ExecContext(ctx, s.q[q], id); err != nil {
					return fmt.Errorf("delete run %d: %s: %w", id, q, err)
				}
			}
		}
		return nil
	})
}

// Size is the ledger's size in bytes (its pages, used and free).
func (s *Store) Size(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := s.db.GetContext(ctx, &n, s.q[qLedgerSize]); err != nil {
		return 0, fmt.Errorf("ledger size: %w", err)
	}
	return n.Int64, nil
}

// Vacuum rebuilds the ledger file, returning the space of deleted rows to
// the file system.
func (s *Store) Vacuum(ctx context.Context) error {
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	defer s.unlockWrite()
	if _, err := s.db.ExecContext(ctx, s.q[qVacuum]); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}
