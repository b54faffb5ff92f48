package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// CustomerWriter saves the customers' data of one run, like SaveCustomerData,
// from a goroutine of its own that commits several customers per
// transaction: up to customerGroupMax customers, or what arrived within
// customerGroupDelay of the first one. Each customer is still all or nothing:
// a crash loses whole customers that were not committed yet, never part of
// one (their coverage, receivable lines and subscriptions are written
// together, in one transaction).
//
// Save encodes the customer's rows (the values the writer binds, or its COPY
// data on PostgreSQL) on the caller's goroutine, queues them and returns, so
// the fetchers never wait for SQLite and the writer goroutine only writes; a
// write error is returned by a later Save and by Close. Close must be called:
// it commits what is queued (unless the context has ended) and reports the
// first error. Save is safe for concurrent use.
type CustomerWriter struct {
	s     *Store
	ctx   context.Context
	runID int64

	mu     sync.Mutex
	closed bool
	queue  chan queuedCustomer
	done   chan struct{}

	failure atomic.Pointer[error] // the first write error
	saved   atomic.Int64          // customers committed

	committed chan []*CustomerData // groups for OnCommit's function, in commit order
	delivered chan struct{}        // closed when every committed group was delivered

	onSave func(*CustomerData, *EncodedLines) // OnSave's function
}

// queuedCustomer is a customer's data and its encoded rows (nil when
// copied inside the ledger).
type queuedCustomer struct {
	d    *CustomerData
	rows *customerRows
}

const (
	customerGroupMax   = 64
	customerGroupDelay = 50 * time.Millisecond
	customerQueue      = 16
	// commitQueue is how many committed groups may wait for OnCommit's
	// function while the writer goes on: a few groups of memory at most.
	commitQueue = 2
)

// NewCustomerWriter starts a writer for the run's customer data. The context
// bounds every write; once it ends, queued data is discarded.
func (s *Store) NewCustomerWriter(ctx context.Context, runID int64) *CustomerWriter {
	w := &CustomerWriter{s: s, ctx: ctx, runID: runID,
		queue: make(chan queuedCustomer, customerQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// Save queues one customer's data (see SaveCustomerData for what is stored).
// The writer keeps d's slices until they are written: do not change them
// after Save.
func (w *CustomerWriter) Save(d CustomerData) error {
	if err := validateCustomerData(w.runID, &d); err != nil {
		return err
	}
	// Encoded before the lock: the callers encode in parallel.
	q := queuedCustomer{d: &d, rows: w.s.encodeCustomer(w.runID, &d)}
	if w.onSave != nil {
		w.onSave(q.d, &EncodedLines{customerID: d.CustomerID, rows: q.rows})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		q.rows.release()
		return fmt.Errorf("store data of customer %s (run %d): customer writer is closed", d.CustomerID, w.runID)
	}
	if p := w.failure.Load(); p != nil {
		q.rows.release()
		return *p
	}
	select {
	case w.queue <- q:
		return nil
	case <-w.ctx.Done():
		q.rows.release()
		return fmt.Errorf("store data of customer %s (run %d): %w", d.CustomerID, w.runID, w.ctx.Err())
	}
}

// Close commits the queued data, stops the writer, waits until OnCommit's
// function was called with every committed group, and returns the first
// write error. Later calls return the same error. On PostgreSQL the first
// Close of a writer that stored everything then refreshes the planner's
// statistics of the run's tables (refreshPlannerStats), so the reads that
// follow are planned for the rows just written.
func (w *CustomerWriter) Close() error {
	w.mu.Lock()
	first := !w.closed
	if first {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	if p := w.failure.Load(); p != nil {
		return *p
	}
	if first && w.ctx.Err() == nil {
		if err := w.s.refreshPlannerStats(w.ctx); err != nil {
			return fmt.Errorf("run %d: %w", w.runID, err)
		}
	}
	return nil
}

// OnSave makes Save call fn with each customer's data and its encoded
// receivable lines (EncodedLines), on Save's goroutine, once they are
// encoded and before they are queued: fn may read them then, not after it
// returns, and must not change the data. A customer passed to fn may still
// fail to be stored (Save's and Close's errors say so). Call it once, before
// the first Save.
func (w *CustomerWriter) OnSave(fn func(d *CustomerData, lines *EncodedLines)) {
	w.onSave = fn
}

// OnCommit makes the writer call fn with the data of the customers of each
// transaction after the transaction committed, in the order they were saved:
// only committed customers are passed, each once. The calls are made one at
// a time, in commit order, from a goroutine of their own, so the writer goes
// on writing meanwhile (up to commitQueue committed groups ahead of fn; then
// it waits for fn). Close returns after the last call. Call it once, before
// the first Save. fn must not keep the slice.
func (w *CustomerWriter) OnCommit(fn func(committed []*CustomerData)) {
	w.committed = make(chan []*CustomerData, commitQueue)
	w.delivered = make(chan struct{})
	go func() {
		defer close(w.delivered)
		for group := range w.committed {
			fn(group)
		}
	}()
}

// Saved is the number of customers committed so far.
func (w *CustomerWriter) Saved() int64 { return w.saved.Load() }

func (w *CustomerWriter) run() {
	defer close(w.done)
	for q := range w.queue {
		if w.failure.Load() != nil {
			q.rows.release()
			continue // drain: the run has failed
		}
		if err := w.group(q); err != nil {
			w.failure.Store(&err)
		}
	}
	if w.committed != nil {
		close(w.committed)
		<-w.delivered
	}
}

// group writes first and whatever else is queued within the group limits in
// one transaction.
func (w *CustomerWriter) group(firstQ queuedCustomer) error {
	first := firstQ.d
	current, n := first, 0
	var group []*CustomerData
	if w.committed != nil {
		group = make([]*CustomerData, 0, customerGroupMax)
	}
	err := w.s.customerTx(w.ctx, func(st *customerStmts) error {
		if err := w.s.saveCustomer(w.ctx, st, w.runID, first, firstQ.rows); err != nil {
			return err
		}
		n = 1
		if group != nil {
			group = append(group, first)
		}
		timer := time.NewTimer(customerGroupDelay)
		defer timer.Stop()
		for n < customerGroupMax {
			select {
			case q, ok := <-w.queue:
				if !ok {
					return nil // closed: commit what we have
				}
				d := q.d
				current = d
				if err := w.s.saveCustomer(w.ctx, st, w.runID, d, q.rows); err != nil {
					return err
				}
				n++
				if group != nil {
					group = append(group, d)
				}
			case <-timer.C:
				return nil
			}
		}
		return nil
	})
	if err != nil {
		var rowsErr *writeRowsError
		if (errors.Is(err, w.ctx.Err()) && w.ctx.Err() != nil) || errors.As(err, &rowsErr) {
			// Not the current customer's failure: the rows of the group's
			// customers are written together on PostgreSQL (the error names
			// the customer whose row failed).
			return fmt.Errorf("store customer data (run %d): %w", w.runID, err)
		}
		return fmt.Errorf("store data of customer %s (run %d): %w", current.CustomerID, w.runID, err)
	}
	w.saved.Add(int64(n))
	if w.committed != nil {
		w.committed <- group // delivered in commit order (OnCommit)
	}
	return nil
}
