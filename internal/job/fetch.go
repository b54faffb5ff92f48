package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// Setting is one name/value pair recorded with a run and shown on the Run sheet.
type Setting struct {
	Name, Value string
}

// FetchOptions configure one fetch run.
type FetchOptions struct {
	Date          billing.Date // any date inside the wanted billing period
	BaseURL       string       // recorded with the run (never credentials)
	ToolVersion   string
	Concurrency   int  // per-customer calls in flight; default 4
	Subscriptions bool // also fetch each customer's subscriptions (reference data)
	Settings      []Setting
	Now           func() time.Time
	Logger        *slog.Logger
	// Progress, when set, is told about the payable download (lines) and
	// the customers done.
	Progress Progress
	// Reuse, when set, makes the run a retry of an earlier one: the
	// receivables of the customers it names are copied from that run in
	// the ledger instead of fetched (see RetryMissing).
	Reuse *Reuse

	// feed, when set, is fed what the fetch commits (Close).
	feed *liveFeed
}

// ErrIncomplete marks a run that finished but could not fetch every
// customer's receivables. The run is stored with status "partial".
var ErrIncomplete = errors.New("run incomplete: receivables missing for some customers")

// Fetch pulls one billing period into a new ledger run and returns it. The
// run is "complete" when the payable charges, the customers and every
// customer's receivables were fetched; "partial" when some customers'
// receivables failed (the returned error wraps ErrIncomplete); "failed" when
// the payable charges or the customer list could not be fetched, or the run was
// interrupted — then the error says why. A failed or interrupted run never
// looks complete: its status is written last, and a killed process leaves it
// "running", which no report uses.
func Fetch(ctx context.Context, client Client, store RunWriter, opts FetchOptions) (ledger.Run, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	settings, err := settingsJSON(opts.Settings)
	if err != nil {
		return ledger.Run{}, err
	}
	run := ledger.Run{
		RequestedDate: opts.Date,
		Status:        billing.RunRunning,
		StartedAt:     opts.Now().UTC(),
		BaseURL:       opts.BaseURL,
		ToolVersion:   opts.ToolVersion,
		Settings:      settings,
	}
	id, err := store.BeginRun(ctx, run)
	if err != nil {
		return ledger.Run{}, fmt.Errorf("begin run: %w", err)
	}
	run.ID = id
	log.Info("fetch run started", "run", id, "date", string(opts.Date))

	status, runErr := fetchInto(ctx, client, store, id, opts, log)
	stats := client.Stats()
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	// The final status is written even when ctx was cancelled (Ctrl-C): the
	// run must not stay "running" when we know it failed.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := store.FinishRun(finishCtx, id, status, ledger.RunStats{
		Calls: stats.Calls, Retries: stats.Retries, TokenRequests: stats.TokenRequests,
	}, errText, opts.Now().UTC()); err != nil {
		return run, errors.Join(runErr, fmt.Errorf("finish run %d: %w", id, err))
	}
	stored, err := store.Run(finishCtx, id)
	if err != nil {
		return run, errors.Join(runErr, fmt.Errorf("read run %d: %w", id, err))
	}
	log.Info("fetch run finished", "run", id, "status", string(status), "calls", stats.Calls, "retries", stats.Retries, "token_requests", stats.TokenRequests)
	return stored, runErr
}

func fetchInto(ctx context.Context, client Client, store RunWriter, runID int64, opts FetchOptions, log *slog.Logger) (billing.RunStatus, error) {
	failed := billing.RunFailed

	// The customer list first: the engine attributes the payable lines to
	// its customers as they stream.
	start, callsBefore := time.Now(), client.Stats().Calls
	customers, err := client.Customers(ctx)
	if err != nil {
		return failed, fmt.Errorf("fetch customers: %w", err)
	}
	if err := store.SaveCustomers(ctx, runID, customers); err != nil {
		return failed, fmt.Errorf("store customers: %w", err)
	}
	feed := opts.feed
	if err := feed.start(ctx, runID); err != nil {
		return failed, err
	}
	LogStage(log, "customer list", start, int64(len(customers)), "customers")

	// The customers fan-out starts while the payable body streams (with the
	// first charge, so the payable call is the second API call): up to
	// opts.Concurrency customers are fetched at a time and at most
	// prefetchCustomers more wait, fetched, until the payable charges are
	// committed. Only then are they classified against the payable period
	// and stored (SQLite has one writer: the payable batch holds it).
	// A retry (Reuse) needs the period to pick what it reuses: its fan-out
	// starts after the commit.
	total := len(customers)
	var missing, done, recvLines, reused atomic.Int64
	fanCtx, cancelFan := context.WithCancel(ctx)
	defer cancelFan()
	g, gctx := errgroup.WithContext(fanCtx)
	g.SetLimit(opts.Concurrency + prefetchCustomers)
	slots := make(chan struct{}, opts.Concurrency)
	gate := make(chan struct{}) // closed once the payable charges are committed
	var (
		period     billing.Period // set before gate is closed
		writer     *ledger.CustomerWriter
		launchOnce sync.Once
		launched   = make(chan struct{})
		progress   = orNop(opts.Progress)
	)
	fetchOne := func(c billing.Customer) error {
		// The launcher took a slot for c (so that customers are fetched in
		// the list's order); it is given back once c is fetched.
		var d ledger.CustomerData
		if opts.Reuse != nil && opts.Reuse.reusable(c.ID) {
			<-slots
			d = opts.Reuse.copyOf(c.ID)
			reused.Add(1)
		} else {
			var err error
			d, err = fetchCustomer(gctx, client, c.ID, opts.Date, opts.Subscriptions)
			<-slots
			if err != nil {
				return err // interrupted: stop the whole run
			}
			select {
			case <-gate:
			case <-gctx.Done():
				return gctx.Err()
			}
			classify(&d, period)
		}
		if d.Coverage == billing.CoverageFetchFailed {
			missing.Add(1)
			log.Warn("receivables unavailable", "customer", c.ID, "error", d.Error)
		}
		lines := int64(len(d.Receivables))
		if err := writer.Save(d); err != nil {
			return fmt.Errorf("store receivables for customer %s: %w", c.ID, err)
		}
		recvLines.Add(lines)
		progress.Rows(done.Add(1))
		return nil
	}
	launch := func() {
		launchOnce.Do(func() {
			go func() {
				defer close(launched)
				for i := range customers {
					c := customers[i]
					select {
					case slots <- struct{}{}:
					case <-gctx.Done():
						return
					}
					g.Go(func() error { return fetchOne(c) })
				}
			}()
		})
	}
	stopFan := func() {
		cancelFan()
		launchOnce.Do(func() { close(launched) })
		<-launched
		_ = g.Wait() // the payable side failed: that is the error
	}

	start = time.Now()
	batch, err := store.NewPayableBatch(ctx, runID)
	if err != nil {
		return failed, fmt.Errorf("stage payable charges: %w", err)
	}
	sink := &payableSink{b: batch, progress: progress, feed: feed}
	if opts.Reuse == nil {
		sink.first = launch
	}
	progress.Phase(PhasePayable, "lines", 0)
	period, err = client.PayableCharges(ctx, opts.Date, sink)
	if err != nil {
		_ = batch.Rollback()
		progress.Done()
		stopFan()
		return failed, fmt.Errorf("fetch payable charges for %s: %w", opts.Date, err)
	}
	progress.Rows(sink.n)
	progress.Phase(PhaseStore, "lines", sink.n)
	progress.Rows(sink.n)
	err = batch.Commit(period)
	progress.Done()
	if err != nil {
		_ = batch.Rollback()
		stopFan()
		return failed, fmt.Errorf("store payable charges for %s: %w", period, err)
	}
	feed.payableStored(period)
	log.Info("payable charges stored", "run", runID, "period", period.String())
	LogStage(log, "payable fetch+store", start, sink.n, "lines")

	start, callsBefore = time.Now(), client.Stats().Calls
	if opts.Reuse != nil {
		opts.Reuse.start(period)
	}
	// One writer goroutine stores the customers, several per transaction
	// (each customer still all or nothing), while the fetchers go on.
	// The writer uses ctx, not gctx: gctx ends when Wait returns.
	writer = store.NewCustomerWriter(ctx, runID)
	if feed != nil {
		writer.OnCommit(feed.committed) // only committed customers count
	}
	progress.Phase(PhaseCustomers, "customers", int64(total))
	defer progress.Done()
	close(gate)
	launch()
	<-launched
	werr := g.Wait()
	// Close commits what is queued (all of it, when every fetch succeeded).
	if err := writer.Close(); err != nil && werr == nil {
		werr = fmt.Errorf("store receivables: %w", err)
	}
	if werr != nil {
		return failed, werr
	}
	if err := ctx.Err(); err != nil {
		return failed, err
	}
	LogStage(log, "customers fan-out", start, client.Stats().Calls-callsBefore, "calls",
		"customers", total, "receivable_lines", recvLines.Load(), "reused", reused.Load())
	if r := opts.Reuse; r != nil {
		r.Reused, r.Fetched = int(reused.Load()), total-int(reused.Load())
		if err := recordReuse(ctx, store, runID, opts.Settings, r); err != nil {
			return failed, err
		}
	}
	if m := missing.Load(); m > 0 {
		return billing.RunPartial, fmt.Errorf("%w (%d of %d customers)", ErrIncomplete, m, total)
	}
	return billing.RunComplete, nil
}

// fetchCustomer fetches one customer's receivables (and subscriptions). A
// fetch error is recorded as coverage, not returned: only an interruption of
// the whole run is an error.
// Its coverage is decided by classify, once the payable period is known.
func fetchCustomer(ctx context.Context, client Client, customerID string, date billing.Date, withSubs bool) (ledger.CustomerData, error) {
	d := ledger.CustomerData{CustomerID: customerID}
	p, lines, err := client.ReceivableCharges(ctx, customerID, date)
	if err != nil {
		if ctx.Err() != nil {
			return d, fmt.Errorf("fetch receivables for customer %s: %w", customerID, ctx.Err())
		}
		d.Coverage = billing.CoverageFetchFailed
		d.Error = fmt.Sprintf("fetch receivables for customer %s: %v", customerID, err)
		return d, nil
	}
	d.Period = p
	d.Receivables = lines
	if withSubs {
		subs, err := client.Subscriptions(ctx, customerID)
		if err != nil {
			if ctx.Err() != nil {
				return d, fmt.Errorf("fetch subscriptions for customer %s: %w", customerID, ctx.Err())
			}
			d.SubscriptionsError = fmt.Sprintf("fetch subscriptions for customer %s: %v", customerID, err)
		} else {
			d.Subscriptions = subs
		}
	}
	return d, nil
}

// classify decides the coverage of fetched receivables (d.Coverage not set:
// the fetch succeeded) against the payable period.
func classify(d *ledger.CustomerData, period billing.Period) {
	if d.Coverage != "" {
		return // fetch_failed
	}
	if d.Period.Equal(period) {
		d.Coverage = billing.CoverageAvailable
	} else {
		d.Coverage = billing.CoveragePeriodDiffers
		d.Error = fmt.Sprintf("receivables period %s differs from payable period %s", d.Period, period)
	}
}

// prefetchCustomers is how many fetched customers may wait for the payable
// charges' commit: what the fan-out runs ahead of the payable stream.
const prefetchCustomers = 128

// settingsUpdater is the ledger's SetRunSettings (*ledger.Store).
type settingsUpdater interface {
	SetRunSettings(ctx context.Context, id int64, settings string) error
}

// recordReuse adds what a retry reused to the run's stored settings.
func recordReuse(ctx context.Context, store RunWriter, runID int64, settings []Setting, r *Reuse) error {
	u, ok := store.(settingsUpdater)
	if !ok {
		return nil
	}
	text, err := settingsJSON(append(slices.Clone(settings), r.Setting()))
	if err != nil {
		return err
	}
	if err := u.SetRunSettings(ctx, runID, text); err != nil {
		return fmt.Errorf("record the retry's provenance: %w", err)
	}
	return nil
}

func settingsJSON(s []Setting) (string, error) {
	// An ordered JSON object, so the stored text is deterministic.
	buf := []byte{'{'}
	for i, kv := range s {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := json.Marshal(kv.Name)
		if err != nil {
			return "", err
		}
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return "", err
		}
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return string(append(buf, '}')), nil
}

// payableSink hands streamed payable charges to the ledger batch and counts
// the charges of the current attempt.
type payableSink struct {
	b        *ledger.PayableBatch
	n        int64
	progress Progress
	feed     *liveFeed // also fed each charge (nil: none)
	first    func()    // called with the first charge (nil: none)
}

func (s *payableSink) Reset() error {
	s.n = 0
	s.progress.Rows(0)
	s.feed.resetPayable()
	return s.b.Reset()
}

func (s *payableSink) Charge(c *billing.PayableCharge) error {
	s.n++
	if s.n%512 == 0 {
		s.progress.Rows(s.n)
	}
	if s.first != nil {
		s.first()
		s.first = nil
	}
	s.feed.payable(c)
	return s.b.Add(c)
}

// LogStage logs, at Info level, how long a stage took since start and its
// rate: n units in that time. extra are more slog key/value pairs.
func LogStage(log *slog.Logger, name string, start time.Time, n int64, unit string, extra ...any) {
	if log == nil {
		return
	}
	d := time.Since(start)
	rate := 0.0
	if s := d.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	args := []any{"stage", name, "elapsed", d.Round(time.Millisecond), unit, n, unit + "_per_s", int64(rate + 0.5)}
	log.Info("stage done", append(args, extra...)...)
}
