package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyTable is one table `ledger copy` moves, with the order its rows are
// read in (deterministic; parents before children across the list).
type copyTable struct {
	name, orderBy string
}

// copyTables are the ledger's tables in foreign-key order. A migration that
// adds a table adds it here (schema_migrations is written by the
// destination's own migrations; period_locks are transient and not copied).
var copyTables = []copyTable{
	{"runs", "id"},
	{"run_summaries", "run_id"},
	{"payable_customers", "run_id, customer_ord"},
	{"payable_charges", "run_id, line_no"},
	{"customers", "run_id, id"},
	{"customer_coverage", "run_id, customer_id"},
	{"receivable_charges", "run_id, customer_id, line_no"},
	{"subscriptions", "run_id, customer_id, line_no"},
	{"exceptions", "id"},
	{"deliveries", "id"},
	{"amendment_log", "seq"},
}

// CopyReport is what Copy moved and verified.
type CopyReport struct {
	Tables map[string]int64 // rows per table
	Runs   int              // runs whose digest was verified
}

// CopyLedger copies every row of the ledger src into dst, which must be a
// new ledger (no runs) at the same schema version, across backends (SQLite to
// PostgreSQL or back). Run ids are kept. The copy is then verified: the same
// runs (id, status, times, counters), the same row count in every table and,
// for every run, the same ledger digest on both sides. Money keeps its exact
// text (NUMERIC on PostgreSQL keeps the scale it was given).
func CopyLedger(ctx context.Context, src, dst *Store) (CopyReport, error) {
	rep := CopyReport{Tables: map[string]int64{}}
	if dst.readOnly {
		return rep, fmt.Errorf("copy ledger: destination %s: %w", dst.path, ErrReadOnly)
	}
	if n, err := dst.count(ctx, dst.db, qCountRuns); err != nil {
		return rep, fmt.Errorf("copy ledger: destination %s: %w", dst.path, err)
	} else if n > 0 {
		return rep, fmt.Errorf("copy ledger: destination %s already holds %d runs: copy into a new, empty ledger", dst.path, n)
	}
	if err := dst.lockWrite(ctx); err != nil {
		return rep, err
	}
	err := dst.copyInto(ctx, src, rep.Tables)
	dst.unlockWrite()
	if err == nil {
		err = dst.refreshPlannerStats(ctx) // before verifyCopy reads every run back
	}
	if err != nil {
		return rep, fmt.Errorf("copy ledger %s to %s: %w", src.path, dst.path, err)
	}
	n, err := verifyCopy(ctx, src, dst)
	rep.Runs = n
	if err != nil {
		return rep, fmt.Errorf("copy ledger %s to %s: verify: %w", src.path, dst.path, err)
	}
	return rep, nil
}

// copyInto copies every table in one transaction of dst.
func (dst *Store) copyInto(ctx context.Context, src *Store, counts map[string]int64) error {
	conn, err := dst.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for _, t := range copyTables {
		rows, err := src.db.QueryContext(ctx, "SELECT * FROM "+t.name+" ORDER BY "+t.orderBy) // names from copyTables
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		n, err := dst.copyRows(ctx, conn, tx.Tx, t.name, rows)
		rows.Close()
		if err != nil {
			return fmt.Errorf("copy %s: %w", t.name, err)
		}
		counts[t.name] = n
	}
	if _, err := tx.ExecContext(ctx, dst.q[qResetRunIDs]); err != nil {
		return fmt.Errorf("reset the run id sequence: %w", err)
	}
	return tx.Commit()
}

func (dst *Store) copyRows(ctx context.Context, conn interface{ Raw(func(any) error) error }, tx *sql.Tx, table string, rows *sql.Rows) (int64, error) {
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var batch [][]any
	var n int64
	var stmt *sql.Stmt
	if !dst.d.postgres() {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
		stmt, err = tx.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES ("+marks+")")
		if err != nil {
			return 0, err
		}
		defer stmt.Close()
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := withPgConn(conn, func(pc *pgx.Conn) error {
			_, err := pc.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(batch))
			return err
		})
		batch = batch[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b) // text as text, never bytea
			}
		}
		n++
		if stmt != nil {
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				return n, fmt.Errorf("row %d: %w", n, err)
			}
			continue
		}
		batch = append(batch, vals)
		if len(batch) >= copyChunk {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// verifyCopy compares the runs, the row counts and every run's digest.
func verifyCopy(ctx context.Context, src, dst *Store) (int, error) {
	a, err := src.Runs(ctx)
	if err != nil {
		return 0, err
	}
	b, err := dst.Runs(ctx)
	if err != nil {
		return 0, err
	}
	if !reflect.DeepEqual(a, b) {
		return 0, fmt.Errorf("the runs differ after the copy (%d in the source, %d in the destination)", len(a), len(b))
	}
	for _, t := range copyTables {
		q := "SELECT COUNT(*) FROM " + t.name // names from copyTables
		var na, nb int64
		if err := src.db.GetContext(ctx, &na, q); err != nil {
			return 0, err
		}
		if err := dst.db.GetContext(ctx, &nb, q); err != nil {
			return 0, err
		}
		if na != nb {
			return 0, fmt.Errorf("%s: %d rows in the source, %d in the destination", t.name, na, nb)
		}
	}
	for _, r := range a {
		da, err := src.Digest(ctx, r.ID)
		if err != nil {
			return 0, err
		}
		db, err := dst.Digest(ctx, r.ID)
		if err != nil {
			return 0, err
		}
		if da != db {
			return 0, fmt.Errorf("run %d: digest %s in the source, %s in the destination", r.ID, da, db)
		}
	}
	return len(a), nil
}
