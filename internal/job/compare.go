package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// RunFinder picks stored runs: by id, or the run `report` would use for a
// date (the latest complete run of the period, else the latest partial one).
type RunFinder interface {
	Run(ctx context.Context, id int64) (ledger.Run, error)
	FindRun(ctx context.Context, date billing.Date) (ledger.Run, error)
}

// HistoryReader is what a comparison and a trend need of the ledger: finding
// runs and reading them. *ledger.Store implements it (opened read-only).
type HistoryReader interface {
	RunReader
	RunFinder
}

var _ HistoryReader = (*ledger.Store)(nil)

// RunPick names one run: exactly one of Month (YYYY-MM, the run `report`
// would pick for the period) and ID.
type RunPick struct {
	Month string
	ID    int64
}

func (p RunPick) String() string {
	if p.Month != "" {
		return "period " + p.Month
	}
	return "run " + RunID(p.ID)
}

// NoRunError is a pick that matches no reportable run in the ledger.
type NoRunError struct {
	Pick   RunPick
	Status billing.RunStatus // set when the run exists but is not reportable
}

func (e *NoRunError) Error() string {
	switch {
	case e.Pick.Month != "":
		return fmt.Sprintf("no complete or partial run for period %s in the ledger: fetch it first with 'reconcile run --period %s' (or 'reconcile fetch --period %s')",
			e.Pick.Month, e.Pick.Month, e.Pick.Month)
	case e.Status != "":
		return fmt.Sprintf("run %d is %s: only complete or partial runs can be compared ('reconcile runs' lists them)", e.Pick.ID, e.Status)
	}
	return fmt.Sprintf("no run %d in the ledger ('reconcile runs' lists them)", e.Pick.ID)
}

// PickRun returns the run p names. A pick that matches nothing, or names a
// run that is neither complete nor partial, is a *NoRunError.
func PickRun(ctx context.Context, l RunFinder, p RunPick) (ledger.Run, error) {
	var run ledger.Run
	var err error
	switch {
	case p.Month != "" && p.ID != 0:
		return ledger.Run{}, fmt.Errorf("pick a run: give a period or a run id, not both (%s, run %d)", p.Month, p.ID)
	case p.Month != "":
		t, perr := time.Parse("2006-01", p.Month)
		if perr != nil || len(p.Month) != 7 {
			return ledger.Run{}, fmt.Errorf("pick a run: invalid period %q (want YYYY-MM)", p.Month)
		}
		run, err = l.FindRun(ctx, billing.Date(t.Format("2006-01-02")))
	default:
		run, err = l.Run(ctx, p.ID)
	}
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Run{}, &NoRunError{Pick: p}
	}
	if err != nil {
		return ledger.Run{}, fmt.Errorf("find %s: %w", p, err)
	}
	if !run.Status.Reportable() {
		return ledger.Run{}, &NoRunError{Pick: p, Status: run.Status}
	}
	return run, nil
}

// inputOf is the engine input of a stored run: its customers and coverage.
func inputOf(ctx context.Context, store RunReader, run ledger.Run) (report.Input, error) {
	customers, err := store.Customers(ctx, run.ID)
	if err != nil {
		return report.Input{}, fmt.Errorf("read customers of run %d: %w", run.ID, err)
	}
	cov, err := store.Coverage(ctx, run.ID)
	if err != nil {
		return report.Input{}, fmt.Errorf("read coverage of run %d: %w", run.ID, err)
	}
	in := report.Input{RunID: RunID(run.ID), Period: run.Period, Customers: customers, PayableOK: true}
	for _, c := range cov {
		in.Coverage = append(in.Coverage, report.Coverage{CustomerID: c.CustomerID, Status: c.Coverage, Error: c.Error, Period: c.Period})
	}
	return in, nil
}

// Snapshot reconciles a stored run from the ledger alone into the Snapshot a
// comparison needs (lines streamed; memory grows with the line keys). The
// ledger is read on a goroutine of its own while the engine consumes the
// lines: when store is a RowReader (the ledger), that goroutine only steps
// through the stored rows and this one decodes just the fields the engine
// reads (reconcileRows); otherwise the lines are read whole (Prefetch).
func Snapshot(ctx context.Context, store RunReader, run ledger.Run, opts report.Options, sopts report.SnapshotOptions) (report.Snapshot, error) {
	b, err := feedSnapshot(ctx, store, run, opts, sopts)
	if err != nil {
		return report.Snapshot{}, err
	}
	return b.Snapshot(), nil
}

// feedSnapshot is Snapshot up to the last step: every line of the run added
// to the builder (report.FeedSnapshot).
func feedSnapshot(ctx context.Context, store RunReader, run ledger.Run, opts report.Options, sopts report.SnapshotOptions) (*report.SnapshotBuilder, error) {
	if !run.Status.Reportable() {
		return nil, fmt.Errorf("run %d is %s: only complete or partial runs can be compared", run.ID, run.Status)
	}
	in, err := inputOf(ctx, store, run)
	if err != nil {
		return nil, err
	}
	var d report.Detail = Prefetch{Detail{Store: store, RunID: run.ID}}
	if rr, ok := store.(RowReader); ok {
		available := map[string]bool{}
		for _, c := range in.Coverage {
			if c.Status == billing.CoverageAvailable {
				available[c.CustomerID] = true
			}
		}
		d = reconcileRows{rows: rr, runID: run.ID, available: available}
	}
	return report.FeedSnapshot(ctx, in, opts, sopts, d)
}

// CompareOptions configure a comparison of two stored runs.
type CompareOptions struct {
	Ledger        HistoryReader
	Base, Current RunPick
	Reconcile     report.Options
	// Workbook is the workbook's path; "" names it DefaultComparisonName in
	// Dir ("" is the current folder). JSON is the JSON's path, "-" for
	// Stdout, "" for none.
	Workbook, Dir string
	JSON          string
	Stdout        io.Writer
	ToolVersion   string
	Settings      []Setting
	// Messages, when set, receives the one-line outcome.
	Messages io.Writer
	Logger   *slog.Logger
}

// DefaultComparisonName is the comparison workbook's default file name
// (comparison-rules.md): comparison-<baseFrom>_<baseTo>-vs-<from>_<to>.xlsx.
func DefaultComparisonName(base, current billing.Period) string {
	return fmt.Sprintf("comparison-%s_%s-vs-%s_%s.xlsx", base.From, base.To, current.From, current.To)
}

// Compare compares two stored runs (comparison-rules.md): both are picked
// and reconciled from the ledger alone, with the same tolerance, the
// comparison is computed and the workbook and JSON are written atomically.
// When either run is incomplete the outputs are written, marked INCOMPLETE,
// and the error wraps ErrIncomplete. A pick without a run is a *NoRunError.
func Compare(ctx context.Context, opts CompareOptions) (*report.Comparison, error) {
	dir := opts.Dir
	if opts.Workbook != "" {
		dir = filepath.Dir(opts.Workbook)
	}
	if dir == "" {
		dir = "."
	}
	if err := PrepareOutputs(filepath.Join(dir, "x"), opts.JSON); err != nil {
		return nil, err
	}
	base, err := PickRun(ctx, opts.Ledger, opts.Base)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	cur, err := PickRun(ctx, opts.Ledger, opts.Current)
	if err != nil {
		return nil, fmt.Errorf("current: %w", err)
	}
	start := time.Now()
	sopts := report.SnapshotOptions{LineKeys: base.Period.Equal(cur.Period)}
	// The base run's Snapshot is made (its Result, the sort and encoding of
	// its line table) before the current run is read, so its engine's state
	// is gone first: made on a goroutine of its own while the current run is
	// read it saved about 1 s at W1M but held both engines' state together,
	// and the peak RSS went over 256 MiB (BENCHMARKS.md, "compare").
	bb, err := feedSnapshot(ctx, opts.Ledger, base, opts.Reconcile, sopts)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	sb := bb.Snapshot()
	cb, err := feedSnapshot(ctx, opts.Ledger, cur, opts.Reconcile, sopts)
	if err != nil {
		return nil, fmt.Errorf("current: %w", err)
	}
	sc := cb.Snapshot()
	LogStage(opts.Logger, "reconcile both runs", start, int64(sb.Result.PayableLines+sb.Result.ReceivableLines+sc.Result.PayableLines+sc.Result.ReceivableLines), "rows")
	c, err := report.Compare(sb, sc)
	if err != nil {
		return nil, err
	}

	path := opts.Workbook
	if path == "" {
		path = filepath.Join(dir, DefaultComparisonName(base.Period, cur.Period))
	}
	info := xlsx.ComparisonInfo{ToolVersion: opts.ToolVersion, Base: RunInfo(base, nil), Current: RunInfo(cur, nil)}
	info.Settings = append(info.Settings, [2]string{"tolerance", billing.Text(c.Tolerance)})
	for _, s := range opts.Settings {
		info.Settings = append(info.Settings, [2]string{s.Name, s.Value})
	}
	start = time.Now()
	if err := xlsx.WriteComparison(ctx, path, &c, info, xlsx.WorkbookOptions{TmpDir: filepath.Dir(path)}); err != nil {
		return nil, fmt.Errorf("write comparison workbook %s: %w", path, err)
	}
	LogStage(opts.Logger, "workbook write", start, int64(len(c.Customers)+len(c.Products)+len(c.Findings)+len(c.Restatements)), "rows")
	if err := writeJSON(opts.JSON, opts.Stdout, "comparison JSON", c.WriteJSON); err != nil {
		return nil, err
	}
	if opts.Messages != nil {
		state := "COMPLETE"
		if !c.Complete {
			state = "INCOMPLETE"
		}
		note := ""
		if c.BaseIsNewer {
			note = " (the base run is the newer one: the bridge runs backwards)"
		}
		fmt.Fprintf(opts.Messages, "comparison of run %s (%s) with run %s (%s) %s%s: workbook %s\n",
			c.Base.RunID, c.Base.Period, c.Current.RunID, c.Current.Period, state, note, path)
	}
	if !c.Complete {
		return &c, fmt.Errorf("%w: comparison of runs %s and %s", ErrIncomplete, c.Base.RunID, c.Current.RunID)
	}
	return &c, nil
}

// writeJSON writes a JSON output atomically to path, or to stdout for "-".
func writeJSON(path string, stdout io.Writer, what string, write func(io.Writer) error) error {
	switch path {
	case "":
		return nil
	case "-":
		if err := write(stdout); err != nil {
			return fmt.Errorf("write %s to stdout: %w", what, err)
		}
		return nil
	}
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("write %s %s: %w", what, path, err)
	}
	return nil
}

// TrendOptions configure a trend over stored runs.
type TrendOptions struct {
	Ledger    HistoryReader
	From, To  string // YYYY-MM, inclusive
	Reconcile report.Options
	// Workbook, Dir, JSON and Stdout as in CompareOptions; the default
	// workbook name is DefaultTrendName.
	Workbook, Dir string
	JSON          string
	Stdout        io.Writer
	ToolVersion   string
	Settings      []Setting
	Messages      io.Writer
	Logger        *slog.Logger
}

// DefaultTrendName is the trend workbook's default file name.
func DefaultTrendName(from, to string) string { return fmt.Sprintf("trend-%s_%s.xlsx", from, to) }

// Trend reconciles, from the ledger alone, the run `report` would pick for
// each month from..to and writes the trend workbook and JSON. A month
// without a run is listed as missing, never as zero; so is a month whose
// only run covers a period starting in another month. Incomplete months are
// marked, not errors.
func Trend(ctx context.Context, opts TrendOptions) (*report.Trend, error) {
	f, err := report.ParseMonth(opts.From)
	if err != nil {
		return nil, fmt.Errorf("trend --from: %w", err)
	}
	if _, err := report.ComputeTrend(opts.From, opts.To, nil); err != nil { // range checks before any work
		return nil, err
	}
	dir := opts.Dir
	if opts.Workbook != "" {
		dir = filepath.Dir(opts.Workbook)
	}
	if dir == "" {
		dir = "."
	}
	if err := PrepareOutputs(filepath.Join(dir, "x"), opts.JSON); err != nil {
		return nil, err
	}
	var results []report.Result
	seen := map[int64]bool{}
	for m := f; m.Format("2006-01") <= opts.To; m = m.AddDate(0, 1, 0) {
		month := m.Format("2006-01")
		run, err := PickRun(ctx, opts.Ledger, RunPick{Month: month})
		var nr *NoRunError
		if errors.As(err, &nr) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(run.Period.From) < 7 || string(run.Period.From[:7]) != month || seen[run.ID] {
			continue
		}
		seen[run.ID] = true
		rec, err := Reconcile(ctx, opts.Ledger, run, opts.Reconcile)
		if err != nil {
			return nil, fmt.Errorf("trend month %s: %w", month, err)
		}
		results = append(results, *rec.Result)
	}
	t, err := report.ComputeTrend(opts.From, opts.To, results)
	if err != nil {
		return nil, err
	}
	path := opts.Workbook
	if path == "" {
		path = filepath.Join(dir, DefaultTrendName(opts.From, opts.To))
	}
	info := xlsx.TrendInfo{ToolVersion: opts.ToolVersion}
	if len(results) > 0 {
		info.Settings = append(info.Settings, [2]string{"tolerance", billing.Text(results[0].Tolerance)})
	}
	for _, s := range opts.Settings {
		info.Settings = append(info.Settings, [2]string{s.Name, s.Value})
	}
	if err := xlsx.WriteTrend(ctx, path, &t, info, xlsx.WorkbookOptions{TmpDir: filepath.Dir(path)}); err != nil {
		return nil, fmt.Errorf("write trend workbook %s: %w", path, err)
	}
	if err := writeJSON(opts.JSON, opts.Stdout, "trend JSON", t.WriteJSON); err != nil {
		return nil, err
	}
	if opts.Messages != nil {
		missing := 0
		for _, p := range t.Periods {
			if p.Status == report.TrendMissing {
				missing++
			}
		}
		fmt.Fprintf(opts.Messages, "trend %s..%s: %d month(s), %d without a run: workbook %s\n", opts.From, opts.To, len(t.Periods), missing, path)
	}
	return &t, nil
}
