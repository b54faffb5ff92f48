package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// RunReader is what reconciling a stored run needs of the ledger.
type RunReader interface {
	Customers(ctx context.Context, runID int64) ([]billing.Customer, error)
	Coverage(ctx context.Context, runID int64) ([]ledger.CustomerCoverage, error)
	EachPayable(ctx context.Context, runID int64, fn func(*billing.PayableCharge) error) error
	EachReceivable(ctx context.Context, runID int64, fn func(customerID string, c *billing.ReceivableCharge) error) error
}

// RunWriter is what a fetch needs of the ledger: a run's record, and the
// writers of its payable charges and customers.
type RunWriter interface {
	BeginRun(ctx context.Context, r ledger.Run) (int64, error)
	FinishRun(ctx context.Context, id int64, status billing.RunStatus, stats ledger.RunStats, errText string, finishedAt time.Time) error
	Run(ctx context.Context, id int64) (ledger.Run, error)
	NewPayableBatch(ctx context.Context, runID int64) (*ledger.PayableBatch, error)
	SaveCustomers(ctx context.Context, runID int64, cs []billing.Customer) error
	NewCustomerWriter(ctx context.Context, runID int64) *ledger.CustomerWriter
}

// Ledger is what a close needs of the ledger. *ledger.Store implements it.
type Ledger interface {
	RunReader
	RunWriter
}

// Client is what a fetch needs of the Sherweb client. *fetch.Client
// implements it.
type Client interface {
	PayableCharges(ctx context.Context, date billing.Date, h fetch.PayableHandler) (billing.Period, error)
	Customers(ctx context.Context) ([]billing.Customer, error)
	ReceivableCharges(ctx context.Context, customerID string, date billing.Date) (billing.Period, []billing.ReceivableCharge, error)
	Subscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error)
	Stats() fetch.Stats
}

// Recycler is a Client that takes back the arrays of receivable lines and
// subscriptions it returned, once the caller holds no reference to them
// (*fetch.Client.Recycle): the fan-out hands back each customer's once it
// is committed and fed to the engine.
type Recycler interface {
	Recycle(recv []billing.ReceivableCharge, subs []billing.Subscription)
}

// Sink is where the outputs of a reconciliation go: files (FileSink) today;
// a mail or an upload plug in here.
type Sink interface {
	// Prepare runs before any API call: it checks that the outputs can be
	// written and removes what an earlier, killed run left behind.
	Prepare(ctx context.Context) error
	// Publish writes the reconciliation and returns where it went (for the
	// outcome message).
	Publish(ctx context.Context, rec *Reconciliation) (string, error)
}

var (
	_ Ledger = (*ledger.Store)(nil)
	_ Client = (*fetch.Client)(nil)
)

// FindingsError reports findings of a complete run when the close was asked
// to fail on findings.
type FindingsError struct{ N int }

func (e *FindingsError) Error() string {
	return fmt.Sprintf("%d open or reopened finding(s) and --fail-on-findings was given", e.N)
}

// ReportOptions are what a close and a report re-issue share.
type ReportOptions struct {
	Sink      Sink
	Reconcile report.Options
	// Settings of this report, shown on the Run sheet after those stored
	// with the fetch.
	Settings []Setting
	// FailOnFindings makes findings of a complete run a *FindingsError.
	FailOnFindings bool
	// Logger, when set, receives the reconcile and output stage timings.
	Logger *slog.Logger
	// Messages, when set, receives the one-line outcome of the report.
	Messages io.Writer
	// Progress, when set, is told about the reconcile and the workbook
	// (the Sink gets it too when it takes one: FileSink.Progress).
	Progress Progress
}

// CloseOptions configure one monthly close.
type CloseOptions struct {
	Ledger Ledger
	Client Client
	Fetch  FetchOptions
	ReportOptions
}

// Close is the monthly close: prepare the outputs, fetch the period into a
// new ledger run, reconcile it and publish the result. A run that ended
// neither complete nor partial is not reported. After the outputs are
// written, an incomplete run is an error wrapping ErrIncomplete and, with
// FailOnFindings, findings of a complete run are a *FindingsError.
func Close(ctx context.Context, opts CloseOptions) error {
	if err := opts.Sink.Prepare(ctx); err != nil {
		return err
	}
	fopts := opts.Fetch
	if fopts.Reuse == nil {
		// The engine is fed while the run is fetched (a retry's reused
		// customers are copied inside the ledger: it reads the run back).
		fopts.feed = newLiveFeed(opts.Ledger, opts.Reconcile)
	}
	if fs := fileSinkOf(opts.Sink); fs != nil && fopts.feed != nil && fs.Detail == xlsx.DetailCSV {
		// The detail files are written while the customers are fetched:
		// the payable one with the fed engine's attribution, the receivable
		// one from the customers the fan-out stores (sink.go).
		feed := fopts.feed
		fopts.payableCommitted = func(ctx context.Context, runID int64, _ billing.Period, customers []billing.Customer) *xlsx.EarlyReceivable {
			return fs.startEarly(ctx, opts.Ledger, runID, feed.attributor(), customers)
		}
		defer fs.stopEarly()
	}
	run, fetchErr := Fetch(ctx, opts.Client, opts.Ledger, fopts)
	if run.ID == 0 || !run.Status.Reportable() {
		if fetchErr == nil {
			fetchErr = fmt.Errorf("run %d ended %s", run.ID, run.Status)
		}
		return fetchErr
	}
	// The fetch settings are stored with the run, and RunInfo lists them
	// from there: only the report's own settings are added here.
	return publish(ctx, opts.Ledger, run, opts.ReportOptions, fetchErr, fopts.feed)
}

// ReissueOptions configure the report of a stored run.
type ReissueOptions struct {
	Ledger RunReader
	Run    ledger.Run
	ReportOptions
}

// Reissue reconciles a stored run again, from the ledger alone, and
// publishes it, with the outcome rules of Close.
func Reissue(ctx context.Context, opts ReissueOptions) error {
	if err := opts.Sink.Prepare(ctx); err != nil {
		return err
	}
	return publish(ctx, opts.Ledger, opts.Run, opts.ReportOptions, nil, nil)
}

// publish reconciles a stored run, publishes its outputs and decides the
// outcome: incomplete runs and findings (with FailOnFindings) are errors,
// after the report was written. prior is the fetch's error, if any; feed is
// the engine the close fed while fetching (nil: read the run).
func publish(ctx context.Context, store RunReader, run ledger.Run, opts ReportOptions, prior error, feed *liveFeed) error {
	start := time.Now()
	progress := orNop(opts.Progress)
	progress.Phase(PhaseReconcile, "rows", 0)
	rec, err := reconcileRun(ctx, store, run, opts.Reconcile, progress, feed, true, opts.Logger)
	progress.Done()
	if err != nil {
		return errors.Join(prior, err)
	}
	res := rec.Result
	LogStage(opts.Logger, "reconcile", start, int64(res.PayableLines+res.ReceivableLines), "rows")
	rec.Info = RunInfo(run, opts.Settings)
	where, err := opts.Sink.Publish(ctx, rec)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (nothing was replaced; 'reconcile report --run %d' writes the report again from the ledger)", err, run.ID)
		}
		return errors.Join(prior, err)
	}
	storeSummary(ctx, store, rec, opts)
	state := "COMPLETE"
	if !res.Complete {
		state = "INCOMPLETE"
	}
	if opts.Messages != nil {
		fmt.Fprintf(opts.Messages, "run %s %s: period %s, %d findings, workbook %s\n", res.RunID, state, res.Period, len(res.Mismatches), where)
	}
	if !res.Complete {
		if prior != nil && errors.Is(prior, ErrIncomplete) {
			return prior
		}
		return fmt.Errorf("%w: run %s", ErrIncomplete, res.RunID)
	}
	if prior != nil {
		return prior
	}
	if n := res.ActionableFindings(); opts.FailOnFindings && n > 0 {
		return &FindingsError{N: n}
	}
	return nil
}

// payableHook is told that a fetch's payable batch committed, with the run,
// the period it committed and the run's customer list
// (FetchOptions.payableCommitted). It may return the receivable detail file
// to write while the customers are fetched: the fan-out gives it every
// customer it stores, and Finish once all of them are stored.
type payableHook func(ctx context.Context, runID int64, period billing.Period, customers []billing.Customer) *xlsx.EarlyReceivable

func (h payableHook) call(ctx context.Context, runID int64, period billing.Period, customers []billing.Customer) *xlsx.EarlyReceivable {
	if h != nil {
		return h(ctx, runID, period, customers)
	}
	return nil
}

// fileSinkOf is the FileSink a close publishes through (also inside a
// RecordingSink), or nil.
func fileSinkOf(s Sink) *FileSink {
	if rs, ok := s.(*RecordingSink); ok {
		s = rs.Sink
	}
	fs, _ := s.(*FileSink)
	return fs
}
