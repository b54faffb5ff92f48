package xlsx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// WriteWorkbook renders the reconciliation to path atomically: it writes a
// temp file ".<name>-*.tmp" in path's directory, syncs and closes it, renames
// it over path and syncs the directory. On any error the temp file is
// removed and path is left as it was; nothing is ever written to path
// directly. opts.TmpDir defaults to path's directory.
//
// With opts.Detail == DetailCSV it also writes the payable and receivable
// lines to the two files DetailCSVPaths(path) names, each the same way
// (temp file, sync, rename). The three files are renamed only once all
// three are complete: on an error before that, none of them is touched and
// no temp file is left. (Should a rename itself fail, files already renamed
// stay in place; the CSV files are renamed before the workbook.)
// opts.BeforeCommit, when set, runs just before the first rename.
func WriteWorkbook(ctx context.Context, path string, res *report.Result, attr Attributor, info RunInfo, detail Detail, opts WorkbookOptions) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write workbook %q: no file name", path)
	}
	if opts.TmpDir == "" {
		opts.TmpDir = dir
	}
	if err := checkDetail(opts.Detail); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}

	var csvs []detailCSV // in rename order, before the workbook
	var waitCSV func() error
	defer func() {
		if waitCSV != nil {
			_ = waitCSV() // the writers are done before their files go
		}
		if err != nil {
			for _, c := range csvs {
				if c.file != nil {
					c.file.Abort()
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Detail == DetailCSV {
		if detail == nil {
			return fmt.Errorf("write workbook %s: no detail", path)
		}
		payPath, recPath := DetailCSVPaths(path)
		opts.csvPayable, opts.csvReceivable = filepath.Base(payPath), filepath.Base(recPath)
		csvs = []detailCSV{
			{what: "payable", path: payPath, write: func(ctx context.Context, w io.Writer) error { return WritePayableCSV(ctx, w, res, attr, detail) },
				workbook: path, res: res},
			{what: "receivable", path: recPath, write: func(ctx context.Context, w io.Writer) error { return WriteReceivableCSV(ctx, w, res, detail) },
				workbook: path, res: res},
		}
		if opts.EarlyPayable != nil {
			csvs[0].early = opts.EarlyPayable
		}
		if opts.EarlyReceivable != nil {
			csvs[1].early = opts.EarlyReceivable
		}
		// The CSV files are written while the workbook (which has no
		// detail sheet then) is rendered; the first error stops the others.
		done := make(chan error, 1)
		go func() {
			err := writeDetailCSVs(ctx, csvs)
			if err != nil {
				cancel()
			}
			done <- err
		}()
		var csvErr error
		waitCSV = func() error {
			if done != nil {
				csvErr, done = <-done, nil
			}
			return csvErr
		}
	}
	// firstErr is the CSV writers' error when there is one that is not
	// the cancellation err caused, else err.
	firstErr := func(err error) error {
		if waitCSV == nil {
			return err
		}
		cancel()
		if cerr := waitCSV(); cerr != nil && (err == nil || !errors.Is(cerr, context.Canceled)) {
			return cerr
		}
		return err
	}

	a, err := atomicfile.Create(path)
	if err != nil {
		return firstErr(fmt.Errorf("write workbook %s: %w", path, err))
	}
	defer func() {
		if err != nil {
			a.Abort()
		}
	}()
	bw := bufio.NewWriterSize(a, 1<<20)
	if err := render(ctx, bw, res, attr, info, detail, opts, base); err != nil {
		return firstErr(fmt.Errorf("write workbook %s: %w", path, err))
	}
	if err := bw.Flush(); err != nil {
		return firstErr(fmt.Errorf("write workbook %s: %w", path, err))
	}
	if err := a.Finish(); err != nil {
		return firstErr(fmt.Errorf("write workbook %s: %w", path, err))
	}
	if waitCSV != nil {
		if err := waitCSV(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			return err
		}
	}
	for _, c := range csvs {
		if err := c.file.Commit(); err != nil {
			return fmt.Errorf("write workbook %s: %w", path, err)
		}
	}
	if err := a.Commit(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		// The files are in place; only their durability is in doubt.
		return fmt.Errorf("write workbook %s: sync directory: %w", path, err)
	}
	return nil
}

// detailCSV is one of the detail CSV files of WriteWorkbook.
type detailCSV struct {
	what, path string
	write      func(context.Context, io.Writer) error
	file       *atomicfile.File // set by finish
	// early, when set, is this file written ahead (EarlyPayable,
	// EarlyReceivable): it is taken when it is the file of the workbook at
	// workbook for res.
	early    earlyFile
	workbook string
	res      *report.Result
}

// earlyFile is a detail file written ahead of the workbook.
type earlyFile interface {
	take(ctx context.Context, workbookPath string, res *report.Result) (*atomicfile.File, error)
}

// writeDetailCSVs writes the CSV files at the same time, each on a
// goroutine of its own reading its own lines (see Detail), and finishes
// them (not renamed yet). It returns the first error, naming its file; that
// error stops the other writers, and all of them are waited for.
func writeDetailCSVs(ctx context.Context, csvs []detailCSV) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range csvs {
		c := &csvs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.finish(ctx); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("write %s csv %s: %w", c.what, c.path, err)
					cancel() // stop the other writers
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// finish writes the file and finishes it (or takes the one written ahead).
func (c *detailCSV) finish(ctx context.Context) error {
	if c.early != nil {
		f, err := c.early.take(ctx, c.workbook, c.res)
		if err != nil {
			return err
		}
		if f != nil {
			c.file = f
			return nil
		}
	}
	f, err := atomicfile.Create(c.path)
	if err != nil {
		return err
	}
	c.file = f
	f.Direct() // see atomicfile.File.Direct
	if err := c.write(ctx, f); err != nil {
		return err
	}
	return c.file.Finish()
}
