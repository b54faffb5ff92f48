package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// FileSink publishes a reconciliation as files: the workbook (with its CSV
// detail files for DetailCSV) and the JSON summary, each written atomically.
type FileSink struct {
	// Workbook is the workbook's path; "" names it after the run's period
	// (DefaultWorkbookName) in Dir.
	Workbook string
	// Dir is the folder of a default-named workbook; "" is the current one.
	Dir string
	// JSON is the JSON summary's path: "-" for Stdout, "" for none.
	JSON   string
	Stdout io.Writer
	// Detail is xlsx.DetailXLSX or xlsx.DetailCSV.
	Detail string
	// Logger, when set, receives the workbook stage's timing.
	Logger *slog.Logger
	// Progress, when set, is told about the workbook's rows.
	Progress Progress

	// early is the payable detail file a close writes ahead (startEarly).
	early *earlyDetail
}

// earlyDetail is the detail files of a close written ahead, for the run and
// attribution they were written with.
type earlyDetail struct {
	runID int64
	attr  *report.Attributor
	csv   *xlsx.EarlyPayable
	recv  *xlsx.EarlyReceivable
}

// startEarly starts writing the payable CSV file of run runID, whose
// payable lines store committed, with attribution attr, while the close
// fetches its customers (xlsx.StartPayableCSV), and the receivable CSV
// file of the run's customers, which it returns: the fan-out gives it the
// customers as it stores them (xlsx.StartReceivableCSV). The workbook's
// path is known once the period is: the run's is read back from store.
// Publish takes the files when they are the ones of the run it publishes,
// with the same attribution; stopEarly removes them otherwise.
func (s *FileSink) startEarly(ctx context.Context, store Ledger, runID int64, attr *report.Attributor, customers []billing.Customer) *xlsx.EarlyReceivable {
	if s.early != nil || attr == nil || s.Detail != xlsx.DetailCSV {
		return nil
	}
	out := s.Workbook
	if out == "" {
		run, err := store.Run(ctx, runID)
		if err != nil {
			return nil // the workbook stage writes the files
		}
		out = filepath.Join(s.workbookDir(), DefaultWorkbookName(run))
	}
	s.early = &earlyDetail{runID: runID, attr: attr,
		csv: xlsx.StartPayableCSV(ctx, out, attr, Detail{Store: store, RunID: runID})}
	if enc, ok := store.(lineEncoder); ok && enc.EncodesLines() {
		s.early.recv = xlsx.StartReceivableCSV(ctx, out, customers)
	}
	return s.early.recv
}

// lineEncoder is a ledger whose customer writer hands the lines it stores
// encoded as the ledger will read them (ledger.EncodedLines): SQLite's.
// On another the receivable file is written after the fan-out.
type lineEncoder interface{ EncodesLines() bool }

// stopEarly stops the files written ahead and removes them unless Publish
// took them.
func (s *FileSink) stopEarly() {
	if s.early != nil {
		s.early.csv.Close()
		s.early.recv.Close()
		s.early = nil
	}
}

var _ Sink = (*FileSink)(nil)

// workbookDir is the folder the workbook goes to, known before the period is.
func (s *FileSink) workbookDir() string {
	if s.Workbook != "" {
		return filepath.Dir(s.Workbook)
	}
	if s.Dir != "" {
		return s.Dir
	}
	return "."
}

// Prepare checks that the workbook's and the JSON summary's folders are
// writable, then removes the temporary files a killed run left in them.
func (s *FileSink) Prepare(context.Context) error {
	// The workbook name may depend on the period, which only the API knows;
	// its folder is checked now, before any API call, and the named files
	// must not be folders.
	if err := checkTargets(s.Workbook); err != nil {
		return err
	}
	return PrepareOutputs(filepath.Join(s.workbookDir(), "x"), s.JSON)
}

// checkTargets checks that no output path is an existing folder (or
// anything but a regular file): a rename over it would fail after the
// other outputs were replaced. "" and "-" are skipped.
func checkTargets(paths ...string) error {
	for _, p := range paths {
		if p == "" || p == "-" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			continue // a new file; its folder is checked by PrepareOutputs
		}
		if st.IsDir() {
			return fmt.Errorf("output %s is a folder: give a file name (e.g. %s)", p, filepath.Join(p, "reconciliation.json"))
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("output %s exists and is not a regular file", p)
		}
	}
	return nil
}

// PrepareOutputs checks, in order, that no path is a folder and that a file
// can be created in each path's folder, then removes the temporary files a killed run left in
// those folders (atomicfile.CleanStale). "" and "-" (stdout) are skipped.
func PrepareOutputs(paths ...string) error {
	if err := checkTargets(paths...); err != nil {
		return err
	}
	for _, p := range paths {
		if err := preflightOutput(p); err != nil {
			return err
		}
	}
	cleanStale(paths...)
	return nil
}

// Publish writes the workbook and the JSON summary and returns the
// workbook's path.
func (s *FileSink) Publish(ctx context.Context, rec *Reconciliation) (string, error) {
	out := s.Workbook
	if out == "" {
		out = filepath.Join(s.workbookDir(), DefaultWorkbookName(rec.Run))
	}
	targets := []string{out, s.JSON}
	if s.Detail == xlsx.DetailCSV {
		p, r := xlsx.DetailCSVPaths(out)
		targets = append(targets, p, r)
	}
	if err := checkTargets(targets...); err != nil {
		return "", err
	}
	opts := xlsx.WorkbookOptions{TmpDir: filepath.Dir(out), Detail: s.Detail}
	unused, recvUnused := "", ""
	if e := s.early; e != nil {
		if e.runID == rec.Run.ID && e.attr == rec.Attributor {
			opts.EarlyPayable, opts.EarlyReceivable = e.csv, e.recv
		} else {
			unused = "the reconciliation was not built with the attribution it was written with"
			if e.recv != nil {
				recvUnused = unused
			}
		}
	}
	if err := WriteOutputs(ctx, rec, Outputs{
		Workbook: out,
		JSON:     s.JSON,
		Stdout:   s.Stdout,
		Options:  opts,
		Logger:   s.Logger,
		Progress: s.Progress,
	}); err != nil {
		return "", err
	}
	if opts.EarlyPayable != nil {
		unused, recvUnused = opts.EarlyPayable.Unused(), opts.EarlyReceivable.Unused()
	}
	if s.Logger != nil {
		if unused != "" {
			s.Logger.Info("payable detail written ahead not used: written again", "reason", unused)
		}
		if recvUnused != "" {
			s.Logger.Info("receivable detail written ahead not used: written again", "reason", recvUnused)
		}
	}
	return out, nil
}

// DefaultWorkbookName is the workbook's file name when none is given.
func DefaultWorkbookName(run ledger.Run) string {
	return fmt.Sprintf("reconciliation-%s_%s.xlsx", run.Period.From, run.Period.To)
}

// preflightOutput checks that a file can be created in path's folder.
func preflightOutput(path string) error {
	if path == "" || path == "-" {
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output folder %s does not exist: create it (mkdir -p %s) or choose another", dir, dir)
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("output folder %s is not a folder", dir)
	}
	f, err := os.CreateTemp(dir, ".reconcile-preflight-*.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the probe's name is ours, not the user's
		}
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close() // an empty probe; the Remove below reports
	return os.Remove(name)
}

// cleanStale removes temporary files a killed run left beside the outputs.
func cleanStale(paths ...string) {
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "" || p == "-" {
			continue
		}
		dir := filepath.Dir(p)
		if !seen[dir] {
			seen[dir] = true
			_ = atomicfile.CleanStale(dir)
		}
	}
}
