package report

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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
func WriteWorkbook(ctx context.Context, path string, res *Result, info RunInfo, detail Detail, opts WorkbookOptions) (err error) {
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
	mode := newFileMode
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("write workbook %s: not a regular file", path)
		}
		mode = fi.Mode().Perm()
	}

	tmp, err := os.CreateTemp(dir, "."+base+"-*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("write workbook %s: create temp file: %w", path, err)
	}
	tmpName := tmp.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = tmp.Close()
			}
			_ = os.Remove(tmpName)
		}
	}()

	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := render(ctx, bw, res, info, detail, opts, base); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write workbook %s: sync: %w", path, err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write workbook %s: close: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write workbook %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write workbook %s: rename: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		// The file is in place; only its durability is in doubt.
		return fmt.Errorf("write workbook %s: sync directory: %w", path, err)
	}
	return nil
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
