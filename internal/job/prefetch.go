package job

import (
	"context"
	"fmt"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// prefetchBatch is how many lines the reading goroutine hands over at a time;
// prefetchDepth how many such batches may wait (memory: a few MiB at most).
const (
	prefetchBatch = 512
	prefetchDepth = 4
)

// Prefetch is a report.Detail that reads the lines of D on a goroutine of its
// own, a batch at a time, while the caller's goroutine consumes them: the
// ledger's read (SQLite's step, scanning, decoding the detail column) and the
// engine run on two cores at once. Lines reach fn in D's order, one at a
// time, on the caller's goroutine; an error of fn stops the read and is
// returned as is.
type Prefetch struct{ D report.Detail }

var _ report.Detail = Prefetch{}

// EachPayable streams D's payable lines to fn.
func (p Prefetch) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return pipeline(ctx, p.D.EachPayable, fn)
}

type receivableLine struct {
	customerID string
	c          *billing.ReceivableCharge
}

// EachReceivable streams D's receivable lines to fn.
func (p Prefetch) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return pipeline(ctx, func(ctx context.Context, emit func(receivableLine) error) error {
		return p.D.EachReceivable(ctx, func(id string, c *billing.ReceivableCharge) error {
			return emit(receivableLine{id, c})
		})
	}, func(l receivableLine) error { return fn(l.customerID, l.c) })
}

// pipeline runs produce on a new goroutine and feeds what it emits, in
// order, to consume on this one. It returns consume's first error, else
// produce's.
func pipeline[T any](ctx context.Context, produce func(context.Context, func(T) error) error, consume func(T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan []T, prefetchDepth)
	free := make(chan []T, prefetchDepth+2)
	done := make(chan error, 1)
	go func() {
		defer close(full)
		batch := make([]T, 0, prefetchBatch)
		send := func() error {
			select {
			case full <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case batch = <-free:
			default:
				batch = make([]T, 0, prefetchBatch)
			}
			return nil
		}
		err := produce(ctx, func(v T) error {
			batch = append(batch, v)
			if len(batch) == cap(batch) {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		done <- err
	}()
	var cerr error
	for b := range full {
		for i := 0; cerr == nil && i < len(b); i++ {
			if cerr = consume(b[i]); cerr != nil {
				cancel() // the producer stops at its next hand-over; drain until it has
			}
		}
		clear(b) // drop the references: the consumer keeps what it needs
		select {
		case free <- b[:0]:
		default:
		}
	}
	perr := <-done
	if cerr != nil {
		return cerr
	}
	return perr
}

// RowReader streams a stored run's rows undecoded (*ledger.Store implements
// it): what compare reads.
type RowReader interface {
	EachPayableRow(ctx context.Context, runID int64, fn func(ledger.PayableRow) error) error
	EachReceivableRow(ctx context.Context, runID int64, fn func(ledger.ReceivableRow) error) error
}

var _ RowReader = (*ledger.Store)(nil)

// reconcileRows is a report.Detail for a run that is only reconciled (a
// comparison's snapshots): like Prefetch{Detail{...}} it reads the ledger on a
// goroutine of its own, but that goroutine only steps through the rows; the
// caller's goroutine decodes each row, only the fields the engine reads
// (DecodeForReconcile), into one charge that it reuses for every line. So
// fn must not keep the charge after it returns: report.SnapshotBuilder does
// not.
type reconcileRows struct {
	rows  RowReader
	runID int64
	// available are the customers whose receivables count (coverage
	// "available"): EachReceivableRow yields every stored line.
	available map[string]bool
}

var _ report.Detail = reconcileRows{}

// EachPayable streams the run's payable lines to fn, decoded for the engine.
func (d reconcileRows) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	var c billing.PayableCharge
	return pipeline(ctx, func(ctx context.Context, emit func(ledger.PayableRow) error) error {
		return d.rows.EachPayableRow(ctx, d.runID, emit)
	}, func(r ledger.PayableRow) error {
		c = billing.PayableCharge{}
		if err := r.DecodeForReconcile(&c); err != nil {
			return fmt.Errorf("read payable charges of run %d: %w", d.runID, err)
		}
		return fn(&c)
	})
}

// EachReceivable streams the run's receivable lines (customers with
// coverage "available") to fn, decoded for the engine.
func (d reconcileRows) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	var c billing.ReceivableCharge
	return pipeline(ctx, func(ctx context.Context, emit func(ledger.ReceivableRow) error) error {
		return d.rows.EachReceivableRow(ctx, d.runID, emit)
	}, func(r ledger.ReceivableRow) error {
		if !d.available[r.CustomerID] {
			return nil // as EachReceivable: only the lines of available customers
		}
		c = billing.ReceivableCharge{}
		if err := r.DecodeForReconcile(&c); err != nil {
			return fmt.Errorf("read receivable charges of run %d: %w", d.runID, err)
		}
		return fn(r.CustomerID, &c)
	})
}
