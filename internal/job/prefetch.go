package job

import (
	"context"

	"github.com/msp-reconcile/reconcile/internal/billing"
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
