package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
)

// The bulk writers' references (SQLite).
//
// The payable batch and the customer writer insert about three million rows
// in a W1M close, each with one or two foreign keys: a payable line refers to
// its run and to its customer key's number (payable_customers), a receivable
// line and a subscription to their customer's coverage row. SQLite checks a
// foreign key on every row: it opens a cursor on the parent and looks the key
// up, for every reference of every row, on the writer's one goroutine that
// the whole close waits for. Both writers make those references themselves:
// the payable batch numbers the customer keys it inserts into
// payable_customers in the same transaction, before their first line, and
// binds the run it checked at its start; the customer writer inserts a
// customer's coverage row before its lines and subscriptions, from the same
// run and customer id. So their transactions run with the check switched off
// on their own connections (bulk_references), and switched back on before the
// connection returns to the pool (restoreReferences); a connection on which
// that fails is discarded. Every other write, and every delete of a parent
// (runs prune), is still checked row by row. ForeignKeyCheck verifies a whole
// ledger: the ledger's and the job's tests run it on every ledger they write,
// the fault matrix after every fault and the crash test after every kill.
// PostgreSQL checks the same references once per statement (migration 0007).

// bulkReferences switches SQLite's row-by-row foreign key check off on conn,
// before a bulk writer begins its transaction (the pragma is a no-op inside
// one). Nothing on PostgreSQL.
func (s *Store) bulkReferences(ctx context.Context, conn *sql.Conn) error {
	if s.d.postgres() {
		return nil
	}
	if _, err := conn.ExecContext(ctx, s.q[qBulkReferences]); err != nil {
		return fmt.Errorf("switch off row-by-row reference checks: %w", err)
	}
	return nil
}

// restoreReferences switches the check back on once the bulk writer's
// transaction has ended, and discards conn (instead of returning it to the
// pool) if it cannot. Call it before conn.Close.
func (s *Store) restoreReferences(ctx context.Context, conn *sql.Conn) {
	if s.d.postgres() {
		return
	}
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), s.q[qRowReferences]); err != nil {
		// Already closed (a failed rollback discarded it) or broken: in
		// either case it must not serve another write unchecked.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// ForeignKeyCheck reads the whole ledger and returns an error listing (up to
// ten of) the rows whose parent row is missing, nil if there are none. On
// SQLite it is pragma_foreign_key_check (a full scan of every table that has
// a foreign key); PostgreSQL enforces every reference itself and returns
// nothing.
func (s *Store) ForeignKeyCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, s.q[qForeignKeyCheck])
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var found []string
	n := 0
	for rows.Next() {
		var table, parent sql.NullString
		var rowid, fk sql.NullInt64
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		n++
		if len(found) < 10 {
			row := "a row"
			if rowid.Valid {
				row = fmt.Sprintf("row %d", rowid.Int64)
			}
			found = append(found, fmt.Sprintf("%s of %s (parent %s, foreign key %d)", row, table.String, parent.String, fk.Int64))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("foreign key check: %d rows refer to missing parents: %s", n, strings.Join(found, "; "))
	}
	return nil
}
