package xlsx

// The receivable detail file written while a close fetches its customers.
//
// The receivable CSV file (DetailCSV) holds the lines of the customers
// whose coverage is "available", customer by customer in id order (byte
// order), each customer's lines in the ledger's canonical order, with the
// customer's name. A close knows all of that while it fetches: the customer
// list (ids and names) before the fan-out, and each customer's lines as
// the fan-out stores them, encoded exactly as the ledger will hold them
// (ledger.EncodedLines, which reads them in the order and with the decoding
// of a read of the stored lines). So the fetchers format each customer's
// lines into a chunk as they store it (Customer), and a goroutine of the
// EarlyReceivable writes the chunks in id order into the atomic temp file
// beside the workbook as soon as every customer before them was given;
// WriteWorkbook then takes the finished file (WorkbookOptions.
// EarlyReceivable) instead of reading two million lines back after the
// fan-out, and renames it with the others (issue 15: the read-back was the
// longest part of a --detail csv close after the fan-out).
//
// The file is given up, and WriteWorkbook writes it as it always does, when
// anything does not hold: a customer's lines that were not encoded (a
// customer copied inside the ledger, a PostgreSQL ledger), a customer not
// in the list or given twice, more than earlyReceivableHold bytes of
// chunks waiting for a slower customer before them, a write error, a fetch
// that did not store every customer (Finish not called), another workbook,
// or a customer whose name in the Result is not the customer list's.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// earlyReceivableHold bounds the bytes of formatted customers an
// EarlyReceivable holds while it waits for a customer before them (the
// fan-out fetches in id order, a few customers at a time: normally a few
// customers' lines wait, not megabytes).
const earlyReceivableHold = 32 << 20

// EarlyReceivable is a receivable detail CSV file written while the
// customers are fetched (StartReceivableCSV). Give it every customer
// (Customer), then call Finish once all of them are stored; Close it once
// the workbook is written (or not): it stops the writer and removes the
// file unless WriteWorkbook took it.
type EarlyReceivable struct {
	earlyState
	ids   []string       // the customers in the file's order (byte order of their ids)
	names []string       // their names in the customer list, by position
	index map[string]int // each id's position

	mu       sync.Mutex
	cond     sync.Cond          // signalled when a chunk is given or the file is given up
	chunks   []*receivableChunk // by position: nil until given, chunkWritten once written
	lined    []bool             // by position: the customer has lines in the file
	held     int                // bytes of chunks given and not written yet
	stop     error              // why the file was given up
	finished bool               // Finish was called
}

// receivableChunk is one customer's formatted lines (buf nil: none).
type receivableChunk struct {
	buf   *[]byte
	lines int64
}

// chunkWritten marks a position whose chunk was written.
var chunkWritten = new(receivableChunk)

// chunkPool keeps the chunks' buffers between customers.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// chunkKeep is the largest buffer a written chunk gives back to chunkPool.
const chunkKeep = 1 << 20

func (c *receivableChunk) release() {
	if c != nil && c.buf != nil && cap(*c.buf) <= chunkKeep {
		chunkPool.Put(c.buf)
	}
}

// StartReceivableCSV starts writing the receivable CSV file of the workbook
// at workbookPath (DetailCSVPaths), whose customers are customers (the
// run's customer list), on a goroutine of its own: into its temp file,
// finished (synced) but not renamed once every customer was given. ctx
// stops it; so does Close.
func StartReceivableCSV(ctx context.Context, workbookPath string, customers []billing.Customer) *EarlyReceivable {
	ctx, state := newEarlyState(ctx, workbookPath)
	e := &EarlyReceivable{earlyState: state, index: make(map[string]int, len(customers))}
	e.cond.L = &e.mu
	order := make([]int, len(customers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(customers[a].ID, customers[b].ID) })
	for _, i := range order {
		c := &customers[i]
		if _, dup := e.index[c.ID]; dup {
			e.stop = fmt.Errorf("customer %s is twice in the customer list", c.ID)
			continue
		}
		e.index[c.ID] = len(e.ids)
		e.ids, e.names = append(e.ids, c.ID), append(e.names, c.DisplayName)
	}
	e.chunks, e.lined = make([]*receivableChunk, len(e.ids)), make([]bool, len(e.ids))
	// A cancelled ctx wakes the writer wherever it waits.
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	go e.write(ctx)
	return e
}

// Customer gives the file the customer with id customerID: its lines when
// available (the customer's coverage is "available"), read by each in the
// ledger's canonical order (ledger.EncodedLines.Each; nil when they were not
// encoded, which gives the file up); nothing otherwise. It formats the
// lines on the caller's goroutine. Safe for concurrent use.
func (e *EarlyReceivable) Customer(customerID string, available bool, each func(func(string, *billing.ReceivableCharge) error) error) {
	pos, ok := e.index[customerID]
	if !ok {
		e.giveUp(fmt.Errorf("customer %s is not in the customer list", customerID))
		return
	}
	ch := &receivableChunk{}
	if available {
		if each == nil {
			e.giveUp(fmt.Errorf("the receivable lines of customer %s were not encoded as stored", customerID))
			return
		}
		if e.stopped() {
			return
		}
		bp := chunkPool.Get().(*[]byte)
		cw := csvWriter{buf: (*bp)[:0]} // no writer: the record stays in buf
		name := e.names[pos]
		err := each(func(id string, c *billing.ReceivableCharge) error {
			cw.receivable(id, name, c)
			ch.lines++
			return cw.record()
		})
		*bp = cw.buf
		ch.buf = bp
		if err != nil {
			ch.release()
			e.giveUp(fmt.Errorf("format the receivable lines of customer %s: %w", customerID, err))
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stop != nil:
		ch.release()
		return
	case e.chunks[pos] != nil:
		ch.release()
		e.stopLocked(fmt.Errorf("customer %s was given twice", customerID))
		return
	}
	e.chunks[pos], e.lined[pos] = ch, ch.lines > 0
	if ch.buf != nil {
		e.held += len(*ch.buf)
	}
	if e.held > earlyReceivableHold {
		e.stopLocked(fmt.Errorf("more than %d MiB of receivable lines waited for the customers before them", earlyReceivableHold>>20))
		return
	}
	e.cond.Broadcast()
}

// Finish tells the file that every customer was given and stored: only then
// may WriteWorkbook take it.
func (e *EarlyReceivable) Finish() {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.finished = true
	e.mu.Unlock()
}

func (e *EarlyReceivable) stopped() bool { return e.stopErr() != nil }

func (e *EarlyReceivable) stopErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stop
}

// giveUp gives the file up for reason err (the first reason stays).
func (e *EarlyReceivable) giveUp(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked(err)
}

func (e *EarlyReceivable) stopLocked(err error) {
	if e.stop == nil {
		e.stop = err
	}
	for i, ch := range e.chunks {
		if ch != nil && ch != chunkWritten {
			ch.release()
			e.chunks[i] = chunkWritten
		}
	}
	e.held = 0
	e.cond.Broadcast()
}

// next waits for the chunk at pos and takes it.
func (e *EarlyReceivable) next(ctx context.Context, pos int) (*receivableChunk, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if e.stop != nil {
			return nil, e.stop
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ch := e.chunks[pos]; ch != nil {
			e.chunks[pos] = chunkWritten
			if ch.buf != nil {
				e.held -= len(*ch.buf)
			}
			return ch, nil
		}
		e.cond.Wait()
	}
}

func (e *EarlyReceivable) write(ctx context.Context) {
	defer close(e.done)
	_, path := DetailCSVPaths(e.workbook)
	fail := func(err error) {
		e.err = fmt.Errorf("write receivable csv %s ahead: %w", path, err)
		e.giveUp(e.err) // the fetchers stop formatting
	}
	if err := e.stopErr(); err != nil {
		fail(err)
		return
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		fail(err)
		return
	}
	f.Direct() // hundreds of MB nobody reads back: see atomicfile.File.Direct
	cw := newCSVWriter(f)
	err = cw.header(receivableColumns)
	var lines int64
	for pos := 0; err == nil && pos < len(e.ids); pos++ {
		var ch *receivableChunk
		if ch, err = e.next(ctx, pos); err != nil {
			break
		}
		if ch.buf != nil {
			cw.buf = append(cw.buf, *ch.buf...)
			lines += ch.lines
			ch.release()
			if len(cw.buf) >= csvFlushAt {
				err = cw.flush()
			}
		}
	}
	if err == nil {
		err = cw.flush()
	}
	if err == nil {
		err = f.Finish()
	}
	if err != nil {
		f.Abort()
		fail(err)
		return
	}
	e.file, e.lines = f, lines
}

// take waits for the file and returns it when it is the receivable file of
// the workbook at workbookPath for res (nil when it is not: Unused says
// why). WriteWorkbook then owns the file: it renames or removes it.
func (e *EarlyReceivable) take(ctx context.Context, workbookPath string, res *report.Result) (*atomicfile.File, error) {
	if e == nil {
		return nil, nil
	}
	if ok, err := e.ready(ctx, "receivable", workbookPath); !ok {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.finished {
		e.unused = "the fetch did not store every customer"
		return nil, nil
	}
	names := customerNames(res)
	for pos, id := range e.ids {
		if e.lined[pos] && names[id] != e.names[pos] {
			e.unused = fmt.Sprintf("customer %s is named %q in the result, not %q as in the customer list", id, names[id], e.names[pos])
			return nil, nil
		}
	}
	e.taken = true
	return e.file, nil
}

// Used reports whether WriteWorkbook took the file, and the number of
// lines in it.
func (e *EarlyReceivable) Used() (bool, int64) {
	if e == nil {
		return false, 0
	}
	return e.used()
}

// Unused says why WriteWorkbook did not take the file ("" when it took it
// or was not asked).
func (e *EarlyReceivable) Unused() string {
	if e == nil {
		return ""
	}
	return e.unused
}

// Close stops the writer, waits for it, and removes the file unless
// WriteWorkbook took it. A nil EarlyReceivable is fine.
func (e *EarlyReceivable) Close() {
	if e != nil {
		e.close()
	}
}
