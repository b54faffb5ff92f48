package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// PayableBatch stages the payable charges of one run in one write
// transaction. Reset discards what was staged (a retried stream); Commit stores
// the lines together with the run's period, atomically; nothing of an
// uncommitted batch is visible to readers. The batch holds the store's write
// lock until Commit or Rollback: always end it with one of them
// (`defer b.Rollback()` is safe after Commit).
//
// Lines are written by a goroutine of the batch, on a connection of its own,
// while the caller decodes the next ones: Add queues the charge (in chunks) and
// returns, so an error writing a line is returned by a later Add, by Reset or
// by Commit. Add keeps the pointer until the line is written: the caller must
// not change the charge after Add (the decoder hands over a fresh one per
// line).
//
// The batch keeps the context it was created with for Add, Reset and Commit
// (Add has no context parameter: it is called once per line from a decoder).
// Its methods are safe for concurrent use.
type PayableBatch struct {
	s     *Store
	ctx   context.Context
	runID int64

	mu      sync.Mutex
	done    bool
	pending []*billing.PayableCharge

	// gen numbers the attempts (Reset starts a new one); the writer skips the
	// chunks of an attempt that was reset before it got to them.
	gen     atomic.Uint64
	failure atomic.Pointer[error] // the first write error, reported by Add
	work    chan batchMsg
}

// payableChunk is how many lines Add hands to the writer at a time, and
// payableQueue how many chunks may wait: the decoder runs at most
// payableChunk*payableQueue lines ahead of the writer.
const (
	payableChunk = 256
	payableQueue = 8
)

type batchMsgKind int

const (
	msgLines batchMsgKind = iota
	msgReset
	msgCommit
	msgRollback
)

type batchMsg struct {
	kind   batchMsgKind
	gen    uint64
	lines  []*billing.PayableCharge
	period billing.Period
	reply  chan error
}

// NewPayableBatch opens the payable batch of a running run that has no
// payable charges yet.
func (s *Store) NewPayableBatch(ctx context.Context, runID int64) (*PayableBatch, error) {
	if err := s.lockWrite(ctx); err != nil {
		return nil, fmt.Errorf("stage payable charges of run %d: %w", runID, err)
	}
	w, err := s.newPayableWriter(ctx, runID)
	if err != nil {
		s.unlockWrite()
		return nil, fmt.Errorf("stage payable charges of run %d: %w", runID, err)
	}
	b := &PayableBatch{s: s, ctx: ctx, runID: runID, work: make(chan batchMsg, payableQueue),
		pending: make([]*billing.PayableCharge, 0, payableChunk)}
	w.b = b
	go w.run()
	return b, nil
}

func (b *PayableBatch) closedErr() error {
	return fmt.Errorf("payable batch of run %d is already committed or rolled back", b.runID)
}

// Add stages one payable charge.
func (b *PayableBatch) Add(c *billing.PayableCharge) error {
	if c == nil {
		return fmt.Errorf("stage payable charge for run %d: nil charge", b.runID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("stage payable charge %s: %w", c.Describe(), err)
	}
	if p := b.failure.Load(); p != nil {
		return *p
	}
	b.pending = append(b.pending, c)
	if len(b.pending) < payableChunk {
		return nil
	}
	m := batchMsg{kind: msgLines, gen: b.gen.Load(), lines: b.pending}
	b.pending = make([]*billing.PayableCharge, 0, payableChunk)
	select {
	case b.work <- m:
		return nil
	case <-b.ctx.Done():
		return fmt.Errorf("stage payable charge %s: %w", c.Describe(), b.ctx.Err())
	}
}

// call hands the pending lines and then m to the writer and waits for its
// answer. The writer serves every message until it has handled a commit or a
// rollback, so these sends do not wait on the context.
func (b *PayableBatch) call(m batchMsg) error {
	if len(b.pending) > 0 {
		if m.kind == msgCommit {
			b.work <- batchMsg{kind: msgLines, gen: b.gen.Load(), lines: b.pending}
		}
		b.pending = make([]*billing.PayableCharge, 0, payableChunk)
	}
	m.reply = make(chan error, 1)
	b.work <- m
	return <-m.reply
}

// finish ends the batch (after the writer has ended) and releases the write
// lock.
func (b *PayableBatch) finish() {
	b.done = true
	b.s.unlockWrite()
}

// Reset discards every line staged so far (the stream is being fetched
// again). The batch stays open.
func (b *PayableBatch) Reset() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	b.gen.Add(1)
	if err := b.call(batchMsg{kind: msgReset}); err != nil {
		_ = b.call(batchMsg{kind: msgRollback})
		b.finish()
		return fmt.Errorf("reset payable batch of run %d: %w", b.runID, err)
	}
	return nil
}

// Commit stores the staged lines together with the run's period, in one
// transaction, and ends the batch.
func (b *PayableBatch) Commit(period billing.Period) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedErr()
	}
	err := b.call(batchMsg{kind: msgCommit, period: period})
	b.finish()
	if err != nil {
		return fmt.Errorf("commit payable charges of run %d: %w", b.runID, err)
	}
	return nil
}

// Rollback discards the batch and ends it. It is a no-op after Commit or a
// previous Rollback.
func (b *PayableBatch) Rollback() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil
	}
	err := b.call(batchMsg{kind: msgRollback})
	b.finish()
	if err != nil {
		return fmt.Errorf("roll back payable charges of run %d: %w", b.runID, err)
	}
	return nil
}

// payableWriter is the goroutine of a batch that writes its lines, on a
// dedicated connection holding the write transaction. It talks to the driver
// directly (sql.Conn.Raw) for the inserts: one prepared statement, values
// bound without database/sql's per-call conversions.
type payableWriter struct {
	s      *Store
	b      *PayableBatch
	ctx    context.Context
	runID  int64
	conn   *sqlx.Conn
	stmt   driver.StmtExecContext
	fast   *sqliteRows            // stmt's rows bound in C (sqliterows.go); nil: through the driver
	cstmt  driver.StmtExecContext // SQLite: insert_payable_customer
	codec  rowCodec
	lineNo int64
	err    error    // the first write error of the batch
	order  []int    // SQLite: a chunk's insertion order (keyOrder)
	keys   []string // SQLite: a chunk's customer keys (keyOrder), by line
	ords   []int64  // SQLite: their numbers (payable_customers), by line

	// customers numbers the attempt's customer keys in order of first
	// appearance (payable_customers.customer_ord).
	customers customerOrds

	// PostgreSQL: the attempt's lines are streamed with one COPY, in the
	// batch's transaction (pgcopy.go); nil until its first line.
	copy *copyStream
}

// newPayableWriter takes a connection, begins the transaction and checks the
// run.
func (s *Store) newPayableWriter(ctx context.Context, runID int64) (*payableWriter, error) {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, err
	}
	w := &payableWriter{s: s, ctx: ctx, runID: runID, conn: conn}
	if err := s.bulkReferences(ctx, conn.Conn); err != nil {
		s.restoreReferences(ctx, conn.Conn)
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, s.q[qBeginWrite]); err != nil {
		s.restoreReferences(ctx, conn.Conn)
		conn.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	err = w.checkRun()
	if err == nil && !s.d.postgres() {
		err = conn.Raw(func(dc any) error {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("driver connection %T cannot prepare statements", dc)
			}
			var err error
			if w.stmt, err = prepareExec(ctx, p, s.q[qInsertPayable]); err != nil {
				return fmt.Errorf("prepare insert: %w", err)
			}
			w.fast, _ = sqliteRowsFor(w.stmt, w.cols())
			if s.payable0009 {
				return nil // no payable_customers (payable0009_test.go)
			}
			if w.cstmt, err = prepareExec(ctx, p, s.q[qInsertPayableCustomer]); err != nil {
				return fmt.Errorf("prepare customer insert: %w", err)
			}
			return nil
		})
	}
	if err != nil {
		_ = w.close(false)
		return nil, err
	}
	return w, nil
}

// prepareExec prepares query on a driver connection, as a statement that
// executes with a context.
func prepareExec(ctx context.Context, p driver.ConnPrepareContext, query string) (driver.StmtExecContext, error) {
	st, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		_ = st.Close() // already failing: releasing the statement
		return nil, fmt.Errorf("driver statement %T cannot execute with a context", st)
	}
	return ex, nil
}

func (w *payableWriter) checkRun() error {
	r, err := w.s.getRun(w.ctx, w.conn, w.runID)
	if err != nil {
		return err
	}
	if r.Status != billing.RunRunning {
		return fmt.Errorf("run is %s, not running", r.Status)
	}
	n, err := w.s.count(w.ctx, w.conn, qCountPayable, w.runID)
	if err != nil {
		return err
	}
	if n > 0 || r.Period.From != "" {
		return errors.New("run already has its payable charges")
	}
	return nil
}

func (w *payableWriter) run() {
	for m := range w.b.work {
		switch m.kind {
		case msgLines:
			if w.err != nil || m.gen != w.b.gen.Load() {
				continue // failed already, or the attempt was reset
			}
			if err := w.insert(m.lines); err != nil {
				w.err = err
				w.b.failure.Store(&err)
			}
		case msgReset:
			err := w.err
			if err == nil {
				err = w.restart()
			}
			m.reply <- err
		case msgCommit:
			err := w.err
			if err == nil {
				err = w.commit(m.period)
			}
			if cerr := w.close(err == nil); err == nil {
				err = cerr
			}
			m.reply <- err
			return
		case msgRollback:
			m.reply <- w.close(false)
			return
		}
	}
}

func (w *payableWriter) insert(lines []*billing.PayableCharge) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("stage payable charge %s: %w", lines[0].Describe(), err)
	}
	if w.s.d.postgres() {
		return w.copyLines(lines)
	}
	first := w.lineNo + 1 // the chunk's lines are numbered in stream order
	w.lineNo += int64(len(lines))
	known := len(w.customers.keys)
	w.order = w.keyOrder(w.order, lines)
	if w.cstmt == nil { // a 0009 ledger: no payable_customers, nothing numbered to store
		known = len(w.customers.keys)
	}
	return w.conn.Raw(func(any) error {
		// The chunk's new customer keys first: its lines refer to them.
		bg := context.Background() // as below
		for i, key := range w.customers.keys[known:] {
			ord := int64(known + i + 1)
			if _, err := w.cstmt.ExecContext(bg, []driver.NamedValue{{Ordinal: 1, Value: w.runID},
				{Ordinal: 2, Value: key}, {Ordinal: 3, Value: ord}}); err != nil {
				return fmt.Errorf("stage payable customer key %q (number %d): %w", key, ord, err)
			}
		}
		if w.fast != nil { // one cgo call for the chunk (sqliterows.go)
			if i, err := execRows(w.fast, w.order, func(i int) []rowVal {
				return w.codec.payableArgs(w.runID, first+int64(i), w.keys[i], w.ords[i], lines[i])[:w.cols()]
			}); err != nil {
				return fmt.Errorf("stage payable charge %s: %w", lines[i].Describe(), err)
			}
			return nil
		}
		// context.Background: the statement runs synchronously (go-sqlite3
		// starts a goroutine per call for a cancellable context); the batch's
		// context is checked per chunk.
		for _, i := range w.order {
			c := lines[i]
			if _, err := w.stmt.ExecContext(bg, w.codec.payableNamed(w.runID, first+int64(i), w.keys[i], w.ords[i], c)[:w.cols()]); err != nil {
				return fmt.Errorf("stage payable charge %s: %w", c.Describe(), err)
			}
		}
		return nil
	})
}

// cols is the number of values of the batch's insert_payable.
func (w *payableWriter) cols() int {
	if w.s.payable0009 {
		return payableCols - 1 // without customer_ord, the last
	}
	return payableCols
}

// keyOrder returns the order to insert a chunk of lines in (indexes into
// lines, in dst's array): the clustered table's primary key after run_id
// (customer_ord, sku, charge_type, period_from, period_to, currency,
// charge_id, then line_no, which follows the stream), in byte order as
// SQLite's BINARY collation. It numbers the chunk's new customer keys
// (w.customers) and sets w.keys and w.ords, by line. The API sends a
// customer's lines together, but neither in key order nor the customers in
// key order: numbered in order of first appearance and inserted in key order
// within the chunk, they are appended after the lines before them instead of
// splitting pages all over the table (BENCHMARKS.md, "Rows appended, not
// inserted" and "Round ten"). The rows stored do not depend on the order.
func (w *payableWriter) keyOrder(dst []int, lines []*billing.PayableCharge) []int {
	w.keys, w.ords = w.keys[:0], w.ords[:0]
	for _, c := range lines {
		k := customerKey(c.Tags)
		w.keys = append(w.keys, k)
		w.ords = append(w.ords, w.customers.ord(k))
	}
	ords := w.ords
	return order(dst, len(lines), func(a, b int) int {
		x, y := lines[a], lines[b]
		return cmp.Or(cmp.Compare(ords[a], ords[b]), strings.Compare(x.SKU, y.SKU),
			strings.Compare(x.ChargeType, y.ChargeType), strings.Compare(string(x.PeriodFrom), string(y.PeriodFrom)),
			strings.Compare(string(x.PeriodTo), string(y.PeriodTo)), strings.Compare(x.Currency, y.Currency),
			strings.Compare(x.ChargeID, y.ChargeID), cmp.Compare(a, b))
	})
}

// customerOrds numbers the customer keys of a payable stream in order of
// first appearance, from 1 (payable_customers.customer_ord).
type customerOrds struct {
	byKey map[string]int64
	keys  []string // by number - 1
}

// ord returns key's number, numbering it if it is new.
func (o *customerOrds) ord(key string) int64 {
	if n, ok := o.byKey[key]; ok {
		return n
	}
	if o.byKey == nil {
		o.byKey = make(map[string]int64)
	}
	o.keys = append(o.keys, key)
	n := int64(len(o.keys))
	o.byKey[key] = n
	return n
}

func (o *customerOrds) reset() { o.byKey, o.keys = nil, nil }

// restart rolls the transaction back and begins a new one.
func (w *payableWriter) restart() error {
	w.abortCopy()
	if _, err := w.conn.ExecContext(w.ctx, w.s.q[qRollback]); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	if _, err := w.conn.ExecContext(w.ctx, w.s.q[qBeginWrite]); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.lineNo = 0
	w.customers.reset()
	return nil
}

func (w *payableWriter) commit(period billing.Period) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if !validDate(period.From) || !validDate(period.To) || period.From > period.To {
		return fmt.Errorf("invalid period %s", period)
	}
	if err := w.endCopy(); err != nil {
		return err
	}
	if w.s.d.postgres() && !w.s.payable0009 {
		if err := w.copyCustomers(); err != nil {
			return err
		}
	}
	res, err := w.conn.ExecContext(w.ctx, w.s.q[qSetRunPeriod], string(period.From), string(period.To),
		formatTime(time.Now().Add(w.s.leaseTTL)), w.runID) // the lease is renewed with the commit: the batch held the write lock
	if err != nil {
		return fmt.Errorf("set period: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("set period: run is no longer running (%d rows, %v)", n, err)
	}
	if _, err := w.conn.ExecContext(w.ctx, w.s.q[qCommit]); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// close ends the transaction (rolling it back unless committed), closes the
// statement and returns the connection to the pool. A connection whose
// transaction could not be rolled back is discarded instead.
func (w *payableWriter) close(committed bool) error {
	w.customers.reset() // the numbers are stored (or discarded): free the keys
	var err error
	if !committed {
		w.abortCopy()
		if _, rerr := w.conn.ExecContext(context.WithoutCancel(w.ctx), w.s.q[qRollback]); rerr != nil {
			err = fmt.Errorf("roll back: %w", rerr)
		}
	}
	_ = w.conn.Raw(func(any) error {
		w.fast.free()
		w.fast = nil
		if w.stmt != nil {
			_ = w.stmt.(driver.Stmt).Close()
			w.stmt = nil
		}
		if w.cstmt != nil {
			_ = w.cstmt.(driver.Stmt).Close()
			w.cstmt = nil
		}
		if err != nil {
			return driver.ErrBadConn // never reuse a connection that may hold a transaction
		}
		return nil
	})
	w.s.restoreReferences(w.ctx, w.conn.Conn) // nothing left to do if the Raw above discarded it
	_ = w.conn.Close()
	return err
}

// EachPayable calls fn for every payable charge of the run, in a
// deterministic order that does not depend on the order the API sent them:
// customer tag value, sku, chargeType, periodFrom, periodTo, currency,
// chargeId, subTotal, quantity, then a hash of the whole line. Rows are
// streamed; fn gets a new charge each time and may keep it. An error from fn
// stops the iteration and is returned as is.
func (s *Store) EachPayable(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error {
	rows, err := s.db.QueryContext(ctx, s.q[qEachPayable], runID)
	if err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	defer rows.Close()
	var r payableScan
	var g tieGroup[*billing.PayableCharge]
	for rows.Next() {
		c := new(billing.PayableCharge)
		if err := r.scan(rows, c); err != nil {
			return fmt.Errorf("read payable charges of run %d: %w", runID, err)
		}
		cols := [...]string{r.customerKey, c.SKU, c.ChargeType, r.from, r.to, c.Currency, c.ChargeID}
		if err := g.next(cols[:], tieKey{r.subTotal, r.qty, r.hash}, c, fn); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read payable charges of run %d: %w", runID, err)
	}
	return g.flush(fn)
}

// payableScan scans rows of each_payable; its fields are reused per row.
type payableScan struct {
	from, to, detail  string
	customerKey, hash string
	subTotal, qty     sql.NullString
}

func (r *payableScan) scan(rows *sql.Rows, c *billing.PayableCharge) error {
	r.subTotal, r.qty = sql.NullString{}, sql.NullString{}
	if err := rows.Scan(&c.SKU, &c.ChargeType, &r.from, &r.to, &c.Currency, &c.ChargeID,
		&r.subTotal, &r.qty, &r.detail, &r.customerKey, &r.hash); err != nil {
		return err
	}
	return decodePayable(c, r.from, r.to, r.subTotal, r.qty, r.detail, false, nil)
}

// decodePayable fills c's periods, amounts and detail fields from their
// stored columns (c's key columns are already set); lean as for
// readPayableDetail.
func decodePayable(c *billing.PayableCharge, from, to string, subTotal, qty sql.NullString, detail string, lean bool, lc *lineCache) error {
	c.PeriodFrom, c.PeriodTo = billing.Date(from), billing.Date(to)
	var err error
	if c.SubTotal, err = lc.parse(subTotal); err != nil {
		return fmt.Errorf("charge %s: subTotal: %w", c.Describe(), err)
	}
	if c.Quantity, err = lc.parse(qty); err != nil {
		return fmt.Errorf("charge %s: quantity: %w", c.Describe(), err)
	}
	if err := readPayableDetail(detail, c, lean, lc); err != nil {
		return fmt.Errorf("charge %s: %w", c.Describe(), err)
	}
	return nil
}
