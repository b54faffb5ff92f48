package xlsx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/msp-reconcile/reconcile/internal/report"
)

// Temporary names. os.CreateTemp and os.MkdirTemp replace the "*" with
// decimal digits, which CleanStaleTemp relies on.
const (
	tmpSuffix    = ".tmp"
	scratchInfix = "-scratch-"
)

var (
	// staleTempFile matches ".<name>-<digits>.tmp", WriteWorkbook's temp file.
	staleTempFile = regexp.MustCompile(`^\..+-[0-9]+\.tmp$`)
	// staleScratchDir matches ".<name>-scratch-<digits>.tmp", a scratch
	// directory for excelize's and the zip spool's temp files.
	staleScratchDir = regexp.MustCompile(`^\..+-scratch-[0-9]+\.tmp$`)
)

// newFileMode is the permission of a new workbook. The temp file is created
// 0600 and the rename keeps that, so the mode is set explicitly (the umask is
// not applied). A workbook that is replaced keeps its mode.
const newFileMode fs.FileMode = 0o644

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
func WriteWorkbook(ctx context.Context, path string, res *report.Result, info RunInfo, detail Detail, opts WorkbookOptions) (err error) {
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

	var files []*atomicFile // in rename order
	defer func() {
		if err != nil {
			for _, a := range files {
				a.abort()
			}
		}
	}()
	if opts.Detail == DetailCSV {
		if detail == nil {
			return fmt.Errorf("write workbook %s: no detail", path)
		}
		payPath, recPath := DetailCSVPaths(path)
		opts.csvPayable, opts.csvReceivable = filepath.Base(payPath), filepath.Base(recPath)
		for _, c := range []struct {
			what, path string
			write      func(context.Context, io.Writer, *report.Result, Detail) error
		}{
			{"payable", payPath, WritePayableCSV},
			{"receivable", recPath, WriteReceivableCSV},
		} {
			a, err := createAtomic(c.path)
			if err != nil {
				return fmt.Errorf("write %s csv %s: %w", c.what, c.path, err)
			}
			files = append(files, a)
			bw := bufio.NewWriterSize(a.f, 1<<20)
			if err := c.write(ctx, bw, res, detail); err != nil {
				return fmt.Errorf("write %s csv %s: %w", c.what, c.path, err)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write %s csv %s: %w", c.what, c.path, err)
			}
			if err := a.finish(); err != nil {
				return fmt.Errorf("write %s csv %s: %w", c.what, c.path, err)
			}
		}
	}

	a, err := createAtomic(path)
	if err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	files = append(files, a)
	bw := bufio.NewWriterSize(a.f, 1<<20)
	if err := render(ctx, bw, res, info, detail, opts, base); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := a.finish(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	for _, a := range files {
		if err := a.commit(); err != nil {
			return fmt.Errorf("write workbook %s: %w", path, err)
		}
	}
	if err := syncDir(dir); err != nil {
		// The files are in place; only their durability is in doubt.
		return fmt.Errorf("write workbook %s: sync directory: %w", path, err)
	}
	return nil
}

// atomicFile is a file being written as a temp file ".<name>-*.tmp" beside
// its final path.
type atomicFile struct {
	path      string
	f         *os.File
	mode      fs.FileMode
	closed    bool
	committed bool
}

// createAtomic creates the temp file of path. A new file gets newFileMode;
// a file that is replaced keeps its mode.
func createAtomic(path string) (*atomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := newFileMode
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, errors.New("not a regular file")
		}
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+base+"-*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	return &atomicFile{path: path, f: f, mode: mode}, nil
}

// finish sets the mode, syncs and closes the temp file.
func (a *atomicFile) finish() error {
	if err := a.f.Chmod(a.mode); err != nil {
		return err
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	a.closed = true
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// commit renames the finished temp file over the path.
func (a *atomicFile) commit() error {
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	a.committed = true
	return nil
}

// abort removes the temp file unless it was committed.
func (a *atomicFile) abort() {
	if a.committed {
		return
	}
	if !a.closed {
		_ = a.f.Close()
	}
	_ = os.Remove(a.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// CleanStaleTemp removes what a killed WriteWorkbook left in dir: temp files
// ".<name>-<digits>.tmp" and scratch directories
// ".<name>-scratch-<digits>.tmp". Call it at startup, before any workbook is
// written to dir (it would also remove a concurrent writer's temp files). A
// missing dir is not an error.
func CleanStaleTemp(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean stale temp files in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case e.IsDir() && staleScratchDir.MatchString(name):
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		case e.Type().IsRegular() && staleTempFile.MatchString(name):
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean stale temp files in %s: %w", dir, err)
	}
	return nil
}
