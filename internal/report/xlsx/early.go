package xlsx

// The payable detail file written ahead of the workbook.
//
// A close commits its payable lines before it fetches the customers, and
// they never change after that; the payable CSV file (DetailCSV) depends on
// nothing else but the attribution (the engine's Attributor, built from the
// customer list and the mapping before the payable stream) and, for a line
// whose customer the attribution names without a name, the Result's
// customer names. So a close can write it while it fetches the customers
// (StartPayableCSV), on a goroutine of its own reading the lines through
// the Detail (the ledger reads them on a read-only connection of its own),
// into the atomic temp file beside the workbook; WriteWorkbook then takes
// the finished file (WorkbookOptions.EarlyPayable) instead of writing it,
// and renames it with the others. The bytes are those WriteWorkbook writes:
// the same function writes them (writePayableCSV), and the ids of the
// customers whose name was looked up are checked against the Result's names
// before the file is taken; a file that failed, or whose names differ, is
// removed and WriteWorkbook writes the file as it always does.
//
// The Payable sheet (DetailXLSX) is not written ahead: its money cells carry
// style ids that are allocated as the cells are met, in sheet order, by the
// sheets before it (Summary's totals, the Customers' margins, the
// Commitments' unit costs: receivable and subscription data fetched after
// the payable lines), so the sheet's bytes are not known before the workbook
// is built (BENCHMARKS.md, issue 15).

import (
	"context"
	"fmt"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// earlyYieldEvery is how many lines the payable file written ahead formats
// between two yields of the processor (runtime.Gosched). The file is
// written during the customers fan-out, whose length is that of its one
// customer writer (the SQLite writes of every customer, on one goroutine):
// each time the writer comes back from SQLite it needs a P, and a
// goroutine that never blocks, like this one, gives its P up only when the
// scheduler preempts it, after up to 10 ms. An execution trace of a W1M
// --detail csv close found the writer waiting for a P 4.7 s of a 15.6 s
// fan-out. Yielding every 256 lines (≈ 1 ms of formatting; the yield costs
// well under 1 µs) lets it run sooner (BENCHMARKS.md, "Round seventeen
// results").
const earlyYieldEvery = 256

// EarlyPayable is a payable detail CSV file written ahead of the workbook
// (StartPayableCSV). Close it once the workbook is written (or not): it
// stops the writer and removes the file unless WriteWorkbook took it.
type EarlyPayable struct {
	earlyState
	looked map[string]struct{} // customers whose name came from the names; set by the writer
}

// earlyState is what a detail file written ahead (EarlyPayable,
// EarlyReceivable) keeps for WriteWorkbook.
type earlyState struct {
	workbook string // the workbook's path
	cancel   context.CancelFunc
	done     chan struct{}

	// Set by the writer before done is closed.
	file  *atomicfile.File // finished, not renamed; nil when err is set
	lines int64
	err   error

	// Set by take, on WriteWorkbook's goroutine.
	taken  bool
	unused string
}

func newEarlyState(ctx context.Context, workbookPath string) (context.Context, earlyState) {
	ctx, cancel := context.WithCancel(ctx)
	return ctx, earlyState{workbook: workbookPath, cancel: cancel, done: make(chan struct{})}
}

// ready waits for the writer (of the what file) and reports whether its
// file is the finished file of the workbook at workbookPath (unused says
// why not).
func (e *earlyState) ready(ctx context.Context, what, workbookPath string) (bool, error) {
	select {
	case <-e.done:
	case <-ctx.Done():
		return false, fmt.Errorf("wait for the %s csv written ahead: %w", what, ctx.Err())
	}
	switch {
	case e.err != nil:
		e.unused = e.err.Error()
		return false, nil
	case e.workbook != workbookPath:
		e.unused = fmt.Sprintf("it was written for workbook %s, not %s", e.workbook, workbookPath)
		return false, nil
	}
	return true, nil
}

func (e *earlyState) used() (bool, int64) {
	if !e.taken {
		return false, 0
	}
	return true, e.lines
}

// close stops the writer, waits for it, and removes the file unless
// WriteWorkbook took it.
func (e *earlyState) close() {
	e.cancel()
	<-e.done
	if e.file != nil && !e.taken {
		e.file.Abort()
	}
}

// StartPayableCSV starts writing the payable CSV file of the workbook at
// workbookPath (DetailCSVPaths) with attribution attr, on a goroutine of
// its own: into its temp file, finished (synced) but not renamed. ctx
// stops it; so does Close.
func StartPayableCSV(ctx context.Context, workbookPath string, attr Attributor, detail Detail) *EarlyPayable {
	ctx, state := newEarlyState(ctx, workbookPath)
	e := &EarlyPayable{earlyState: state}
	go e.write(ctx, attr, detail)
	return e
}

func (e *EarlyPayable) write(ctx context.Context, attr Attributor, detail Detail) {
	defer close(e.done)
	path, _ := DetailCSVPaths(e.workbook)
	f, err := atomicfile.Create(path)
	if err != nil {
		e.err = fmt.Errorf("write payable csv %s ahead: %w", path, err)
		return
	}
	looked := make(map[string]struct{})
	f.Direct() // hundreds of MB nobody reads back: see atomicfile.File.Direct
	lines, err := writePayableCSV(ctx, f, nil, attr, detail, looked, earlyYieldEvery)
	if err == nil {
		err = f.Finish()
	}
	if err != nil {
		f.Abort()
		e.err = fmt.Errorf("write payable csv %s ahead: %w", path, err)
		return
	}
	e.file, e.lines, e.looked = f, lines, looked
}

// take waits for the file and returns it when it is the payable file of
// the workbook at workbookPath for res (nil when it is not: Unused says
// why). WriteWorkbook then owns the file: it renames or removes it.
func (e *EarlyPayable) take(ctx context.Context, workbookPath string, res *report.Result) (*atomicfile.File, error) {
	if e == nil {
		return nil, nil
	}
	if ok, err := e.ready(ctx, "payable", workbookPath); !ok {
		return nil, err
	}
	names := customerNames(res)
	for id := range e.looked {
		if names[id] != "" {
			e.unused = fmt.Sprintf("customer %s has a name in the result that the attribution did not give", id)
			return nil, nil
		}
	}
	e.taken = true
	return e.file, nil
}

// Used reports whether WriteWorkbook took the file, and the number of
// lines in it.
func (e *EarlyPayable) Used() (bool, int64) {
	if e == nil {
		return false, 0
	}
	return e.used()
}

// Unused says why WriteWorkbook did not take the file ("" when it took it
// or was not asked).
func (e *EarlyPayable) Unused() string {
	if e == nil {
		return ""
	}
	return e.unused
}

// Close stops the writer, waits for it, and removes the file unless
// WriteWorkbook took it. A nil EarlyPayable is fine.
func (e *EarlyPayable) Close() {
	if e != nil {
		e.close()
	}
}
