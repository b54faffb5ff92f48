package xlsx

// The Payable and Receivable sheets, produced at the same time, and beside
// the sheets before them.
//
// Each detail sheet's rows are read from the Detail (its own ledger query)
// and encoded on a producer goroutine of its own, into compressed parts
// (workbook_parts.go) of at most maxRows rows each; nothing else is shared
// but the money styles (sharedMoney) and the part set's list of parts. The
// producers start before the Commitments and Amendments sheets, which the
// builder's goroutine writes meanwhile (so that the second core is busy
// while it does: it would otherwise wait for that sheet's compressor). The
// producers make no excelize call but NewStyle, under sharedMoney's lock,
// and only once the builder's goroutine is done with the sheets before them
// and waits for the producers; only then are the detail sheets opened,
// completed and flushed through excelize, on the builder's goroutine, the
// Payable sheets first, in the order the sequential rendering makes those
// calls. Style ids follow the same order as when the sheets are produced one
// after the other (sharedMoney: the builder's sheets, then Payable, then
// Receivable), the sheets' opening does not depend on their name
// (sheetProbe), and the marker rows are numbered when the sheets are
// completed: the workbook is byte-identical to the sequential one.
//
// The first producer error is returned, naming its sheet; it cancels the
// other producer, and both are waited for before returning. An error of the
// builder's own sheets cancels both producers. The parts of a failed
// rendering are stopped and removed by the part set's cleanup.

import (
	"context"
	"fmt"
	"sync"
)

// detailSheets writes the Payable and Receivable sheets, and beside them,
// through sheets, the sheets that come before them.
func (b *builder) detailSheets(sheets func() error) error {
	if b.parts == nil {
		// Reference output: the rows go through excelize, one sheet after
		// the other.
		if err := sheets(); err != nil {
			return err
		}
		if err := b.sequentialDetail(SheetPayable, payableColumns, b.payableRows); err != nil {
			return fmt.Errorf("payable sheet: %w", err)
		}
		if err := b.sequentialDetail(SheetReceivable, receivableColumns, b.receivableRows); err != nil {
			return fmt.Errorf("receivable sheet: %w", err)
		}
		return nil
	}

	pay, err := b.newDetailRows(SheetPayable, payableColumns)
	if err != nil {
		return fmt.Errorf("payable sheet: %w", err)
	}
	rec, err := b.newDetailRows(SheetReceivable, receivableColumns)
	if err != nil {
		return fmt.Errorf("receivable sheet: %w", err)
	}
	const (
		stageBuilder = iota
		stagePayable
		stageReceivable
		stages
	)
	base := b.st
	views, money := base.shareMoney(stages)
	pb, rb := *b, *b // each producer's builder: its own view of the styles
	pb.st, rb.st = views[stagePayable], views[stageReceivable]

	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	produce := func(what string, rows func(context.Context, func([]cell) error) error, d *detailRows, stage int) {
		defer wg.Done()
		defer money.stageDone(stage)
		if err := rows(ctx, d.add); err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("%s sheet: %w", what, err)
				cancel() // stop the other producer
			}
			mu.Unlock()
		}
	}
	wg.Add(2)
	go produce("payable", pb.payableRows, pay, stagePayable)
	go produce("receivable", rb.receivableRows, rec, stageReceivable)

	// The sheets before the detail sheets, meanwhile, on this goroutine.
	b.st = views[stageBuilder]
	err = sheets()
	b.st = base
	if err != nil {
		cancel()
	}
	money.stageDone(stageBuilder)
	wg.Wait()
	if err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}

	if err := pay.complete(); err != nil {
		return fmt.Errorf("payable sheet: %w", err)
	}
	if err := rec.complete(); err != nil {
		return fmt.Errorf("receivable sheet: %w", err)
	}
	return nil
}

// sequentialDetail writes a detail table's rows through t on the builder's
// goroutine.
func (b *builder) sequentialDetail(base string, cols []column, rows func(context.Context, func([]cell) error) error) error {
	t, err := b.newTable(base, cols)
	if err != nil {
		return err
	}
	if err := rows(b.ctx, func(row []cell) error {
		t.row = row
		return t.add()
	}); err != nil {
		return err
	}
	return t.finish()
}

// detailRows are a detail table's data rows, produced off the builder's
// goroutine into compressed parts of at most maxRows rows, one per sheet.
type detailRows struct {
	t      *table // not opened until complete
	prefix []byte // the opening of the table's sheets
	done   []rowsPart
	cur    rowsPart // the part being filled
}

// rowsPart is the data rows of one sheet of a table.
type rowsPart struct {
	pipe *partPipe // nil: no data rows
	rows int
}

func (b *builder) newDetailRows(base string, cols []column) (*detailRows, error) {
	t, err := b.tableOf(base, cols)
	if err != nil {
		return nil, err
	}
	// Probed here, on the builder's goroutine, even when the table turns
	// out to have no rows.
	prefix, err := t.opening()
	if err != nil {
		return nil, fmt.Errorf("sheet %q: %w", base, err)
	}
	return &detailRows{t: t, prefix: prefix}, nil
}

// add encodes row as the next data row, continuing on a new part when the
// current one is full (as table.add).
func (d *detailRows) add(row []cell) error {
	maxRows := d.t.b.maxRows
	if d.cur.rows >= maxRows {
		d.done = append(d.done, d.cur)
		d.cur = rowsPart{}
	}
	d.cur.rows++
	r := d.cur.rows + 1
	if d.cur.pipe == nil {
		var err error
		if d.cur.pipe, err = d.t.b.parts.start(d.prefix); err != nil {
			return fmt.Errorf("sheet %q: %w", sheetName(d.t.base, len(d.done)+1), err)
		}
	}
	if err := d.cur.pipe.row(r, row); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", sheetName(d.t.base, len(d.done)+1), r, err)
	}
	return nil
}

// complete opens, completes and flushes the table's sheets through excelize,
// on the builder's goroutine, once the rows are produced.
func (d *detailRows) complete() error {
	t := d.t
	for _, p := range append(d.done, d.cur) {
		if err := t.start(); err != nil {
			return err
		}
		t.pipe, t.rows = p.pipe, p.rows
		if err := t.finish(); err != nil {
			return err
		}
	}
	return nil
}
