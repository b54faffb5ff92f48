package ledger

import (
	"context"
	"fmt"
)

// plannerStats are the columns whose PostgreSQL statistics the reads of a
// run depend on: the run's share of each charge table (run_id) and the
// customers it joins on. Without them a run written since the last ANALYZE
// is estimated at one row, and the planner joins its receivable lines to
// the coverage in a nested loop that compares every line with every
// customer of the run: at W1M the workbook's receivable read took ten
// minutes instead of seconds.
var plannerStats = []string{
	"ANALYZE payable_customers (run_id, customer_key)",
	"ANALYZE payable_charges (run_id, customer_key)",
	"ANALYZE customers (run_id, id)",
	"ANALYZE customer_coverage (run_id, customer_id, coverage)",
	"ANALYZE receivable_charges (run_id, customer_id)",
	"ANALYZE subscriptions (run_id, customer_id)",
}

// plannerStatsTarget is the sample the refresh takes (300 × target rows a
// table): enough to see a run's share of a table and its customers, about a
// tenth of a second a table at W1M instead of the default's one to three.
// Autovacuum's own later ANALYZE keeps the server's default target.
const plannerStatsTarget = 10

// refreshPlannerStats brings PostgreSQL's planner statistics of the charge
// tables up to date once a run's rows are written, so that the reads that
// follow (the workbook, report, compare) are planned for the rows that are
// there, instead of waiting for autovacuum (a minute or more; it may not
// have run when the report is written). SQLite's plans do not depend on
// statistics: nothing to do. A role that does not own the tables gets a
// warning from the server and nothing is analyzed; the reads are still
// correct, only slower.
func (s *Store) refreshPlannerStats(ctx context.Context) error {
	if !s.d.postgres() {
		return nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("refresh planner statistics: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL default_statistics_target = %d", plannerStatsTarget)); err != nil {
		return fmt.Errorf("refresh planner statistics: %w", err)
	}
	for _, q := range plannerStats {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("refresh planner statistics: %s: %w", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("refresh planner statistics: %w", err)
	}
	return nil
}
