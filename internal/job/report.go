package job

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// Reconciliation is a reconciled run, ready to be published.
type Reconciliation struct {
	Run    ledger.Run
	Result *report.Result
	// Attributor is the engine's attribution of payable lines to customers,
	// for the Payable detail.
	Attributor *report.Attributor
	// Detail streams the run's lines from the ledger, for the detail sheets
	// or files.
	Detail xlsx.Detail
	// Info is the run's provenance for the Run sheet (see RunInfo).
	Info xlsx.RunInfo
}

// Reconcile computes the reconciliation of a stored run from the ledger
// alone (no network). Lines are streamed from the ledger into the engine, so
// memory grows with the number of line keys, not with the number of lines.
// The returned Info has no settings of the report: set it with RunInfo.
func Reconcile(ctx context.Context, store RunReader, run ledger.Run, opts report.Options) (*Reconciliation, error) {
	return reconcile(ctx, store, run, opts, nopProgress{})
}

func reconcile(ctx context.Context, store RunReader, run ledger.Run, opts report.Options, progress Progress) (*Reconciliation, error) {
	return reconcileRun(ctx, store, run, opts, progress, nil, false, nil)
}

// reconcileRun is reconcile with the engine a close fed while it fetched
// (feed, nil for none): it is used when what it was fed is what the ledger
// recorded, else the run is read from the ledger. spool asks that a run
// read from the ledger keep its Commitments rows for the workbook (spool.go:
// its sheet then reads no subscription again; a feed spools its own). log,
// when set, is told when a feed is not used.
func reconcileRun(ctx context.Context, store RunReader, run ledger.Run, opts report.Options, progress Progress, feed *liveFeed, spool bool, log *slog.Logger) (*Reconciliation, error) {
	if !run.Status.Reportable() {
		return nil, fmt.Errorf("run %d is %s: only complete or partial runs can be reported", run.ID, run.Status)
	}
	customers, err := store.Customers(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read customers of run %d: %w", run.ID, err)
	}
	cov, err := store.Coverage(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read coverage of run %d: %w", run.ID, err)
	}
	var lc *licenceCollector
	r, fed, why := feed.result(run, customers, cov)
	if r != nil {
		if lc, err = licenceOf(ctx, store, run, customers, cov, fed.lc); err != nil {
			feed.release()
			return nil, fmt.Errorf("read subscriptions of run %d: %w", run.ID, err)
		}
		if lc != nil {
			if lc.sameCustomers(fed.customers) {
				lc.fed, lc.spool = true, fed.spool
			} else {
				r, lc, why = nil, nil, fmt.Sprintf("the subscriptions fed (%d customers) are not those the ledger checks", len(fed.customers))
			}
		}
	}
	if r == nil {
		feed.release()
		if feed != nil && log != nil {
			log.Info("reading the run back from the ledger", "run", run.ID, "reason", why)
		}
		if r, lc, err = readRun(ctx, store, run, customers, cov, opts, progress); err != nil {
			return nil, err
		}
		if spool && lc != nil && len(lc.customers) > 0 {
			lc.spool = newCommitmentSpool()
		}
	}
	return buildResult(ctx, store, run, r, lc)
}

// readRun feeds a new engine (and licence collector) with the run's lines
// read from the ledger.
func readRun(ctx context.Context, store RunReader, run ledger.Run, customers []billing.Customer, cov []ledger.CustomerCoverage, opts report.Options, progress Progress) (*report.Reconciler, *licenceCollector, error) {
	in := report.Input{
		RunID:     RunID(run.ID),
		Period:    run.Period,
		Customers: customers,
		PayableOK: true,
	}
	for _, c := range cov {
		in.Coverage = append(in.Coverage, report.Coverage{
			CustomerID: c.CustomerID,
			Status:     c.Coverage,
			Error:      c.Error,
			Period:     c.Period,
		})
	}
	r := report.NewReconciler(in, opts)
	lc, err := newLicenceCollector(ctx, store, run, customers, cov, r) // licence.go; nil when store has no subscriptions
	if err != nil {
		return nil, nil, fmt.Errorf("read subscriptions of run %d: %w", run.ID, err)
	}
	var rows int64
	tick := func() {
		rows++
		if rows%1024 == 0 {
			progress.Rows(rows)
		}
	}
	// The engine keeps no line (only their values), so the lines are read
	// as the detail sheets read them (Detail: reused charges, and on SQLite
	// in C batches).
	d := Detail{Store: store, RunID: run.ID}
	if err := d.EachPayable(ctx, func(c *billing.PayableCharge) error {
		tick()
		r.AddPayable(c)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read payable charges of run %d: %w", run.ID, err)
	}
	if err := d.EachReceivable(ctx, func(id string, c *billing.ReceivableCharge) error {
		tick()
		r.AddReceivable(id, c)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read receivable charges of run %d: %w", run.ID, err)
	}
	progress.Rows(rows)
	return r, lc, nil
}

// buildResult turns a fed engine into the run's Reconciliation: the one
// way a Result is built, whether the engine was fed during the close or
// from the ledger.
func buildResult(ctx context.Context, store RunReader, run ledger.Run, r *report.Reconciler, lc *licenceCollector) (*Reconciliation, error) {
	res := r.FinalResult() // frees the engine's per-key state as it goes
	attr := r.Attributor() // r is garbage from here on
	res.ToolVersion = run.ToolVersion
	if err := lc.finish(ctx, res); err != nil {
		return nil, fmt.Errorf("licence check of run %d: %w", run.ID, err)
	}
	if reg, ok := store.(ExceptionReader); ok {
		acc, err := Acceptances(ctx, reg)
		if err != nil {
			return nil, err
		}
		res.ApplyExceptions(acc)
	}
	return &Reconciliation{
		Run:        run,
		Result:     res,
		Attributor: attr,
		Detail:     Detail{Store: store, RunID: run.ID},
		Info:       RunInfo(run, nil),
	}, nil
}

// RunID renders a ledger run id as it appears in reports.
func RunID(id int64) string { return strconv.FormatInt(id, 10) }

// RunInfo is the provenance of a run for the workbook's Run sheet.
func RunInfo(run ledger.Run, settings []Setting) xlsx.RunInfo {
	info := xlsx.RunInfo{
		RunID:       RunID(run.ID),
		ToolVersion: run.ToolVersion,
		BaseURL:     run.BaseURL,
		Status:      run.Status,
		StartedAt:   formatTime(run.StartedAt),
		FinishedAt:  formatTime(run.FinishedAt),
		Calls:       run.Calls,
		Retries:     run.Retries,
	}
	info.Settings = append(info.Settings, [2]string{"requested date", string(run.RequestedDate)})
	// The settings stored with the fetch, then those of this report.
	var stored []struct{ k, v string }
	if run.Settings != "" {
		dec := json.NewDecoder(strings.NewReader(run.Settings))
		if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					break
				}
				var v any
				if err := dec.Decode(&v); err != nil {
					break
				}
				k, _ := kt.(string)
				stored = append(stored, struct{ k, v string }{k, fmt.Sprint(v)})
			}
		}
	}
	for _, kv := range stored {
		info.Settings = append(info.Settings, [2]string{kv.k, kv.v})
	}
	for _, s := range settings {
		info.Settings = append(info.Settings, [2]string{s.Name, s.Value})
	}
	if run.Error != "" {
		info.Settings = append(info.Settings, [2]string{"run error", run.Error})
	}
	return info
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Detail adapts one ledger run to xlsx.Detail.
type Detail struct {
	Store RunReader
	RunID int64
}

// TransientReader reads a run's lines as RunReader does, reusing the charge
// of a line once fn returns (*ledger.Store implements it): what the detail
// sheets and files need, since they keep no line.
type TransientReader interface {
	EachPayableTransient(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error
	EachReceivableTransient(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

var _ TransientReader = (*ledger.Store)(nil)

// ViewReader lends a run's lines to a reader that keeps nothing of them
// (*ledger.Store implements it: EachPayableView): what the detail CSV files
// need.
type ViewReader interface {
	EachPayableView(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error
	EachReceivableView(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

var _ ViewReader = (*ledger.Store)(nil)

// EachPayable implements xlsx.Detail (the charge is reused after fn
// returns when the store is a TransientReader).
func (d Detail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	if t, ok := d.Store.(TransientReader); ok {
		return t.EachPayableTransient(ctx, d.RunID, fn)
	}
	return d.Store.EachPayable(ctx, d.RunID, fn)
}

// EachReceivable implements xlsx.Detail (the charge is reused after fn
// returns when the store is a TransientReader).
func (d Detail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	if t, ok := d.Store.(TransientReader); ok {
		return t.EachReceivableTransient(ctx, d.RunID, fn)
	}
	return d.Store.EachReceivable(ctx, d.RunID, fn)
}

// EachPayableView implements xlsx.ViewDetail: the lines are lent when the
// store is a ViewReader, else read as EachPayable reads them.
func (d Detail) EachPayableView(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	if v, ok := d.Store.(ViewReader); ok {
		return v.EachPayableView(ctx, d.RunID, fn)
	}
	return d.EachPayable(ctx, fn)
}

// EachReceivableView implements xlsx.ViewDetail (see EachPayableView).
func (d Detail) EachReceivableView(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	if v, ok := d.Store.(ViewReader); ok {
		return v.EachReceivableView(ctx, d.RunID, fn)
	}
	return d.EachReceivable(ctx, fn)
}

var _ xlsx.ViewDetail = Detail{}

// countingDetail counts the detail lines a workbook writer reads, and
// reports them as the workbook's progress. The writer reads the payable and
// the receivable lines at the same time (xlsx.Detail): each read counts its
// own lines and adds them to the shared count every progressEvery lines and
// at its end; the progress only ever moves forward.
type countingDetail struct {
	d        xlsx.Detail
	progress Progress

	rows     atomic.Int64 // lines read (up to progressEvery-1 per read not yet added)
	mu       sync.Mutex
	reported int64 // last count reported, under mu
}

// progressEvery is how many lines a read counts before adding them.
const progressEvery = 256

// add adds n lines read and reports the count.
func (c *countingDetail) add(n int64) {
	total := c.rows.Add(n)
	if c.progress == nil {
		return
	}
	c.mu.Lock()
	if total > c.reported {
		c.reported = total
		c.progress.Rows(total)
	}
	c.mu.Unlock()
}

// counter counts one read's lines.
type counter struct {
	c *countingDetail
	n int64
}

func (k *counter) row() {
	if k.n++; k.n == progressEvery {
		k.c.add(k.n)
		k.n = 0
	}
}

// end adds the read's last lines: the read that ends last reports the
// total.
func (k *counter) end() { k.c.add(k.n) }

func (c *countingDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	return c.countPayable(ctx, c.d.EachPayable, fn)
}

func (c *countingDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	return c.countReceivable(ctx, c.d.EachReceivable, fn)
}

// EachPayableView implements xlsx.ViewDetail: the lines are lent when the
// counted Detail lends them.
func (c *countingDetail) EachPayableView(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	if v, ok := c.d.(xlsx.ViewDetail); ok {
		return c.countPayable(ctx, v.EachPayableView, fn)
	}
	return c.EachPayable(ctx, fn)
}

// EachReceivableView implements xlsx.ViewDetail (see EachPayableView).
func (c *countingDetail) EachReceivableView(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	if v, ok := c.d.(xlsx.ViewDetail); ok {
		return c.countReceivable(ctx, v.EachReceivableView, fn)
	}
	return c.EachReceivable(ctx, fn)
}

// countPayable counts the lines read hands fn.
func (c *countingDetail) countPayable(ctx context.Context, read func(context.Context, func(*billing.PayableCharge) error) error, fn func(*billing.PayableCharge) error) error {
	k := counter{c: c}
	defer k.end()
	return read(ctx, func(p *billing.PayableCharge) error {
		k.row()
		return fn(p)
	})
}

// countReceivable counts the lines read hands fn.
func (c *countingDetail) countReceivable(ctx context.Context, read func(context.Context, func(string, *billing.ReceivableCharge) error) error, fn func(string, *billing.ReceivableCharge) error) error {
	k := counter{c: c}
	defer k.end()
	return read(ctx, func(id string, r *billing.ReceivableCharge) error {
		k.row()
		return fn(id, r)
	})
}

var _ xlsx.ViewDetail = (*countingDetail)(nil)

// Outputs says where to write a reconciliation.
type Outputs struct {
	Workbook string    // path of the .xlsx; "" for none
	JSON     string    // path of the JSON summary; "-" for Stdout; "" for none
	Stdout   io.Writer // for JSON "-"
	Options  xlsx.WorkbookOptions
	// Logger, when set, receives the workbook stage's timing at Info level.
	Logger *slog.Logger
	// Progress, when set, is told about the workbook's detail rows.
	Progress Progress
}

// writeJSONSummary writes res's JSON summary to w (a variable for the
// tests of WriteOutputs' failures).
var writeJSONSummary = (*report.Result).WriteJSON

// WriteOutputs writes the workbook and the JSON summary, so that a failure
// leaves whatever was at the target paths untouched: the JSON summary is
// written to its temporary file while the workbook is rendered (on a
// goroutine of its own: at W1M it is ≈ 1 CPU-second that would otherwise
// wait for the workbook with a core idle); the workbook is renamed into
// place only once the JSON's temporary file is complete (its
// BeforeCommit), and only then the JSON's temporary file is renamed over
// its target. An error before the workbook's rename changes neither file;
// a JSON error stops the workbook and is the error returned.
func WriteOutputs(ctx context.Context, rec *Reconciliation, out Outputs) (err error) {
	res := rec.Result
	var js *atomicfile.File
	waitJSON := func() error { return nil } // the JSON writer's end, when it runs beside the workbook
	if out.JSON != "" && out.JSON != "-" {
		js, err = atomicfile.Create(out.JSON)
		if err != nil {
			return fmt.Errorf("write JSON summary %s: %w", out.JSON, err)
		}
		defer func() { // after the JSON writer is done (the defer below)
			if err != nil {
				js.Abort()
			}
		}()
		writeJSON := func() error {
			if err := writeJSONSummary(res, js); err != nil {
				return fmt.Errorf("write JSON summary %s: %w", out.JSON, err)
			}
			if err := js.Finish(); err != nil {
				return fmt.Errorf("write JSON summary %s: %w", out.JSON, err)
			}
			return nil
		}
		if out.Workbook == "" {
			err = writeJSON()
		} else {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				err := writeJSON()
				if err != nil {
					cancel() // the workbook stops: it will not be renamed
				}
				done <- err
			}()
			var jsonErr error
			wait := func() error {
				if done != nil {
					jsonErr, done = <-done, nil
				}
				return jsonErr
			}
			// The JSON writer is done before its file can go (the deferred
			// Abort above runs after this), and its error, the cause of a
			// cancelled workbook, is the one returned.
			defer func() {
				if jerr := wait(); jerr != nil {
					err = jerr
				}
			}()
			out.Options.BeforeCommit, waitJSON = wait, wait
		}
		if err != nil {
			return err
		}
	}
	if out.Workbook != "" {
		start := time.Now()
		if out.Progress != nil {
			out.Progress.Phase(PhaseWorkbook, "rows", int64(res.PayableLines+res.ReceivableLines))
			defer out.Progress.Done()
		}
		d := &countingDetail{d: rec.Detail, progress: out.Progress}
		if err := xlsx.WriteWorkbook(ctx, out.Workbook, res, rec.Attributor, rec.Info, d, out.Options); err != nil {
			return fmt.Errorf("write workbook %s: %w", out.Workbook, err)
		}
		// The lines of the files written ahead were read before.
		used, ahead := out.Options.EarlyPayable.Used()
		d.add(ahead)
		recvUsed, recvAhead := out.Options.EarlyReceivable.Used()
		d.add(recvAhead)
		summary := int64(len(res.Customers) + len(res.Products) + len(res.Mismatches))
		rows := d.rows.Load()
		LogStage(out.Logger, "workbook write", start, rows+summary, "rows",
			"detail_rows", rows, "summary_rows", summary, "payable_ahead", used, "receivable_ahead", recvUsed)
	}
	switch {
	case out.JSON == "-":
		if err := res.WriteJSON(out.Stdout); err != nil {
			return fmt.Errorf("write JSON summary to stdout: %w", err)
		}
	case js != nil:
		if err := waitJSON(); err != nil { // done already (the workbook's BeforeCommit)
			return err
		}
		if err := js.Commit(); err != nil {
			return fmt.Errorf("write JSON summary %s (the workbook %s is written): %w", out.JSON, out.Workbook, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(out.JSON)); err != nil {
			return fmt.Errorf("write JSON summary %s: sync directory: %w", out.JSON, err)
		}
	}
	return nil
}
