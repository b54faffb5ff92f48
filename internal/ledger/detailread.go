package ledger

// Reads of a run's lines for readers that do not keep them: the workbook's
// detail sheets and the detail CSV files, which turn each line into a row
// and forget it. EachPayableTransient and EachReceivableTransient yield the
// lines of EachPayable and EachReceivable, in the same order, decoded the
// same way, but they reuse the charges (fn must not keep one after it
// returns) and, on SQLite, read through a connection of their own, opened
// for the read without SQLite's per-connection mutex and used without
// database/sql.
//
// Why: the detail of a large close is two million lines read once. Through
// database/sql each column of each line is converted and copied once more
// (driver.Value, then Scan), and a connection of the store's pool was opened
// in SQLite's serialized mode, in which every sqlite3_column_* call takes and
// releases the connection's mutex (≈ 1 µs of CPU a line). The pool's
// connections are now opened without that mutex too (store.go, _mutex=no);
// these reads still use a read-only connection of their own, driven without
// database/sql, and see what was committed, as a read through the pool does.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// EachPayableTransient calls fn for every payable charge of the run, as
// EachPayable does (same order, same decoding, same errors), except that the
// charge fn gets is reused once fn returns: fn must not keep it (strings
// and slices it holds may be kept; they are not reused).
func (s *Store) EachPayableTransient(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error {
	return s.eachPayableReused(ctx, runID, false, fn)
}

// EachPayableView is EachPayableTransient for a caller that keeps nothing of
// a charge once fn returns, not even its strings, slices or pointers: on
// SQLite its strings are views of the read's buffer (not copied into Go
// memory), its lists are filled again for a later line, and its flags point
// to shared values. The detail CSV files read their lines so (a copy of
// each field goes into the file's buffer and nothing else is kept).
func (s *Store) EachPayableView(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error {
	return s.eachPayableReused(ctx, runID, true, fn)
}

// eachPayableReused is EachPayableTransient, or EachPayableView when lend.
// The lines of a tie group wait for the group's end, possibly past the end
// of the batch their texts were lent from: at each batch's end they are
// given strings of their own (tieGroup.detach).
func (s *Store) eachPayableReused(ctx context.Context, runID int64, lend bool, fn func(*billing.PayableCharge) error) error {
	var (
		g    tieGroup[*billing.PayableCharge]
		free []*billing.PayableCharge
		lc   = newLineCache(lend)
	)
	emit := func(c *billing.PayableCharge) error {
		err := fn(c)
		free = append(free, c)
		return err
	}
	mode := readMode{lend: lend}
	if lend {
		mode.batchEnd = func() {
			g.detach(func(t *tied[*billing.PayableCharge]) {
				t.key.own()
				ownPayable(t.line)
			})
		}
	}
	err := s.eachStoredMode(ctx, qEachPayable, runID, 11, mode, func(v []storedCol) error {
		var c *billing.PayableCharge
		if n := len(free); n > 0 {
			c, free = free[n-1], free[:n-1]
			lc.keepSpare(c)
		} else {
			c = new(billing.PayableCharge)
		}
		c.SKU, c.ChargeType, c.Currency, c.ChargeID = v[0].text(), v[1].text(), v[4].text(), v[5].text()
		from, to := v[2].text(), v[3].text()
		subTotal, qty := v[6].nullText(), v[7].nullText()
		customerKey, hash := v[9].text(), v[10].text()
		if err := decodePayable(c, from, to, subTotal, qty, v[8].text(), false, lc); err != nil {
			return &readError{err}
		}
		cols := [...]string{customerKey, c.SKU, c.ChargeType, from, to, c.Currency, c.ChargeID}
		return g.next(cols[:], tieKey{subTotal, qty, hash}, c, emit)
	})
	if err == nil {
		return g.flush(emit)
	}
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("read payable charges of run %d: %w", runID, re.err)
	}
	return err
}

// EachReceivableTransient calls fn for every receivable charge of the
// customers whose coverage is "available", as EachReceivable does (same
// order, same decoding, same errors), except that the charge fn gets is
// reused once fn returns: fn must not keep it.
func (s *Store) EachReceivableTransient(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error {
	return s.eachReceivableReused(ctx, runID, false, fn)
}

// EachReceivableView is EachReceivableTransient for a caller that keeps
// nothing of a charge or its customer id once fn returns (EachPayableView).
func (s *Store) EachReceivableView(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error {
	return s.eachReceivableReused(ctx, runID, true, fn)
}

// eachReceivableReused is EachReceivableTransient, or EachReceivableView
// when lend (see eachPayableReused).
func (s *Store) eachReceivableReused(ctx context.Context, runID int64, lend bool, fn func(customerID string, c *billing.ReceivableCharge) error) error {
	lines := newReceivableLines(newLineCache(lend), true, fn)
	mode := readMode{lend: lend}
	if lend {
		mode.batchEnd = func() {
			lines.g.detach(func(t *tied[receivableLine]) {
				t.key.own()
				t.line.customerID = strings.Clone(t.line.customerID)
				ownReceivable(t.line.c)
			})
		}
	}
	var row storedReceivable
	err := s.eachStoredMode(ctx, qEachReceivableAvailable, runID, 12, mode, func(v []storedCol) error {
		row = storedReceivable{customerID: v[0].text(), sku: v[1].text(), chargeID: v[2].text(), chargeType: v[3].text(),
			from: v[4].text(), to: v[5].text(), qty: v[6].nullText(), costPrice: v[7].nullText(), costProrated: v[8].nullText(),
			currency: v[9].text(), detail: v[10].text(), hash: v[11].text()}
		return lines.add(&row)
	})
	if err == nil {
		err = lines.flush()
	}
	if err = unwrapRead(err); err != nil {
		// As EachReceivable: every error, fn's included, is wrapped.
		return fmt.Errorf("read receivable charges of run %d: %w", runID, err)
	}
	return nil
}

// storedReceivable is one stored receivable line: its columns as
// each_receivable_available selects them.
type storedReceivable struct {
	customerID, sku, chargeID, chargeType, from, to string
	qty, costPrice, costProrated                    sql.NullString
	currency, detail, hash                          string
}

// receivableLines turns stored receivable lines, met in the table's key
// order, into the lines the receivable reads hand out: decoded
// (decodeReceivable, through lc), the lines equal up to charge_id put in
// canonical order (ties.go), and, when reuse is set, each charge used again
// for a later line once fn has returned (the Transient and View reads).
type receivableLines struct {
	g     tieGroup[receivableLine]
	lc    *lineCache
	reuse bool
	free  []*billing.ReceivableCharge
	fn    func(string, *billing.ReceivableCharge) error
	emit  func(receivableLine) error
}

func newReceivableLines(lc *lineCache, reuse bool, fn func(string, *billing.ReceivableCharge) error) *receivableLines {
	l := &receivableLines{lc: lc, reuse: reuse, fn: fn}
	l.emit = func(line receivableLine) error {
		err := l.fn(line.customerID, line.c)
		if l.reuse {
			l.free = append(l.free, line.c)
		}
		return err
	}
	return l
}

// add decodes row and queues its line; a decoding error is a *readError.
// Its texts are the line's: a reader that lends them detaches the lines it
// holds before their buffer changes (eachReceivableReused).
func (l *receivableLines) add(row *storedReceivable) error {
	var c *billing.ReceivableCharge
	if n := len(l.free); n > 0 {
		c, l.free = l.free[n-1], l.free[:n-1]
		*c = billing.ReceivableCharge{}
	} else {
		c = new(billing.ReceivableCharge)
	}
	c.SKU, c.ChargeID, c.ChargeType, c.Currency = row.sku, row.chargeID, row.chargeType, row.currency
	if err := decodeReceivable(row.customerID, c, row.from, row.to, row.qty, row.costPrice, row.costProrated, row.detail, l.lc); err != nil {
		return &readError{err}
	}
	cols := [...]string{row.customerID, c.SKU, c.ChargeType, row.from, row.to, c.Currency, c.ChargeID}
	return l.g.next(cols[:], tieKey{row.costProrated, row.qty, row.hash}, receivableLine{row.customerID, c}, l.emit)
}

// flush hands out the lines still queued.
func (l *receivableLines) flush() error { return l.g.flush(l.emit) }

// decodeReceivable fills c's periods, amounts and detail fields from their
// stored columns (c's key columns are already set), as eachReceivable does.
func decodeReceivable(customerID string, c *billing.ReceivableCharge, from, to string, qty, costPrice, costProrated sql.NullString, detail string, lc *lineCache) error {
	c.PeriodFrom, c.PeriodTo = billing.Date(from), billing.Date(to)
	var err error
	if c.Quantity, err = lc.parse(qty); err != nil {
		return fmt.Errorf("customer %s charge %s: quantity: %w", customerID, c.Describe(), err)
	}
	if c.CostPrice, err = lc.parse(costPrice); err != nil {
		return fmt.Errorf("customer %s charge %s: costPrice: %w", customerID, c.Describe(), err)
	}
	if c.CostPriceProrated, err = lc.parse(costProrated); err != nil {
		return fmt.Errorf("customer %s charge %s: costPriceProrated: %w", customerID, c.Describe(), err)
	}
	if err := readReceivableDetail(detail, c, lc); err != nil {
		return fmt.Errorf("customer %s charge %s: %w", customerID, c.Describe(), err)
	}
	return nil
}

// readError is an error of the read or of a line's decoding (not of fn),
// as eachStored's callers tell them apart.
type readError struct{ err error }

// unwrapRead is err with a readError unwrapped (fn's errors as they are),
// for a caller that wraps every error alike.
func unwrapRead(err error) error {
	var re *readError
	if errors.As(err, &re) {
		return re.err
	}
	return err
}

func (e *readError) Error() string { return e.err.Error() }

// eachStored runs the named statement with runID and calls fn with each
// row's ncol columns (the slice is reused until fn returns; the strings are
// not). On SQLite the statement runs on a new read-only connection without
// mutex (see the top of this file), closed at the end, and is stepped in C
// batches (sqliteread.go) unless go-sqlite3's statement cannot be reached;
// on PostgreSQL, through the pool. Errors of the statement are *readError;
// fn's are returned as they are.
func (s *Store) eachStored(ctx context.Context, name string, runID int64, ncol int, fn func([]storedCol) error) error {
	return s.eachStoredMode(ctx, name, runID, ncol, readMode{}, fn)
}

// eachStoredMode is eachStored handing the rows out as mode says (only the
// C batches lend their texts: through the driver or the pool each row's
// strings are its own, and mode.batchEnd is not called).
func (s *Store) eachStoredMode(ctx context.Context, name string, runID int64, ncol int, mode readMode, fn func([]storedCol) error) error {
	if s.d.postgres() {
		return s.eachPooled(ctx, name, runID, ncol, fn)
	}
	_, err := s.eachSQLiteMode(ctx, s.q[name], runID, ncol, true, mode, fn)
	return err
}

// eachSQLite is eachStored's SQLite read of query, in C batches when batch
// and the statement can be reached (fast says whether it was), else
// through the driver.
func (s *Store) eachSQLite(ctx context.Context, query string, arg int64, ncol int, batch bool, fn func([]storedCol) error) (fast bool, err error) {
	return s.eachSQLiteMode(ctx, query, arg, ncol, batch, readMode{}, fn)
}

// eachSQLiteMode is eachSQLite handing the C batches' rows out as mode says.
func (s *Store) eachSQLiteMode(ctx context.Context, query string, arg int64, ncol int, batch bool, mode readMode, fn func([]storedCol) error) (fast bool, err error) {
	dsn, err := dataSourceName(s.path, true)
	if err != nil {
		return false, &readError{err}
	}
	conn, err := s.db.Driver().Open(dsn)
	if err != nil {
		return false, &readError{err}
	}
	defer func() { _ = conn.Close() }() // a read: nothing to lose
	prep, ok := conn.(driver.ConnPrepareContext)
	if !ok {
		return false, &readError{fmt.Errorf("driver connection %T cannot prepare with a context", conn)}
	}
	stmt, err := prep.PrepareContext(ctx, query)
	if err != nil {
		return false, &readError{err}
	}
	defer func() { _ = stmt.Close() }() // a read: nothing to lose
	if batch {
		if r, ok := sqliteReaderFor(stmt, ncol); ok {
			defer r.close()
			return true, r.eachMode(ctx, arg, mode, fn)
		}
	}
	q, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		return false, &readError{fmt.Errorf("driver statement %T cannot query with a context", stmt)}
	}
	rows, err := q.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: arg}})
	if err != nil {
		return false, &readError{err}
	}
	defer func() { _ = rows.Close() }() // a read: nothing to lose
	if n := len(rows.Columns()); n != ncol {
		return false, &readError{fmt.Errorf("statement returns %d columns, want %d", n, ncol)}
	}
	v := make([]driver.Value, ncol)
	row := make([]storedCol, ncol)
	for {
		if err := rows.Next(v); err == io.EOF {
			break
		} else if err != nil {
			return false, &readError{err}
		}
		for i, x := range v {
			row[i] = storedColOf(x)
		}
		if err := fn(row); err != nil {
			return false, err
		}
	}
	return false, nil
}

// eachPooled is eachStored through the store's pool (database/sql).
func (s *Store) eachPooled(ctx context.Context, name string, runID int64, ncol int, fn func([]storedCol) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[name], runID)
	if err != nil {
		return &readError{err}
	}
	defer rows.Close()
	ns := make([]sql.NullString, ncol)
	dest := make([]any, ncol)
	for i := range ns {
		dest[i] = &ns[i]
	}
	row := make([]storedCol, ncol)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return &readError{err}
		}
		for i, n := range ns {
			row[i] = storedCol{}
			if n.Valid {
				row[i] = storedCol{s: n.String, kind: colText}
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return &readError{err}
	}
	return nil
}
