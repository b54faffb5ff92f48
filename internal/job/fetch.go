package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// DefaultConcurrency is how many per-customer calls are in flight unless
// configured (--concurrency): the fan-out's fetchers wait on the API's
// latency most of the time, and at W1M 8 took the fan-out 17.4 s where 4
// took 19.1 s (BENCHMARKS.md, "Round seven results"). internal/config's
// default for the key "concurrency" is the same number.
const DefaultConcurrency = 8

// FetchOptions configure one fetch run.
type FetchOptions struct {
	Date          billing.Date // any date inside the wanted billing period
	BaseURL       string       // recorded with the run (never credentials)
	ToolVersion   string
	Concurrency   int  // per-customer calls in flight; default DefaultConcurrency
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
	// payableCommitted, when set, is told that the payable batch committed
	// (Close: the payable detail is written ahead, close.go).
	payableCommitted payableHook
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
		opts.Concurrency = DefaultConcurrency
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
	start := time.Now()
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

	start = time.Now()
	progress := orNop(opts.Progress)
	batch, err := store.NewPayableBatch(ctx, runID)
	if err != nil {
		return failed, fmt.Errorf("stage payable charges: %w", err)
	}
	sink := &payableSink{b: batch, progress: progress, feed: feed}
	progress.Phase(PhasePayable, "lines", 0)
	period, err := client.PayableCharges(ctx, opts.Date, sink)
	if err != nil {
		_ = batch.Rollback()
		progress.Done()
		return failed, fmt.Errorf("fetch payable charges for %s: %w", opts.Date, err)
	}
	progress.Rows(sink.n)
	progress.Phase(PhaseStore, "lines", sink.n)
	progress.Rows(sink.n)
	err = batch.Commit(period)
	progress.Done()
	if err != nil {
		_ = batch.Rollback()
		return failed, fmt.Errorf("store payable charges for %s: %w", period, err)
	}
	feed.payableStored(period)
	early := opts.payableCommitted.call(ctx, runID, period, customers)
	log.Info("payable charges stored", "run", runID, "period", period.String())
	LogStage(log, "payable fetch+store", start, sink.n, "lines")

	// The fan-out starts after the payable commit, not while the body
	// streams: a customer is classified against the payable period and
	// stored only after the payable batch (SQLite's one writer) committed,
	// so fetching ahead means holding fetched customers in memory. Measured
	// (issue 15, 2000 customers): with 128 customers fetched ahead only
	// ~6% of the fan-out overlapped the stream, for ~13 MB more peak RSS and
	// no measurable gain on 2 cores; see commit cd63892 for that variant.
	start, callsBefore := time.Now(), client.Stats().Calls

	if opts.Reuse != nil {
		opts.Reuse.start(period)
	}
	var missing, done, recvLines, reused atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	// One writer goroutine stores the customers, several per transaction
	// (each customer still all or nothing), while the fetchers go on: each
	// fetcher encodes its customer's rows in Save, and the feed is fed the
	// committed customers from a goroutine of the writer's (in commit
	// order; writer.Close returns once it has all of them, before the
	// feed's result is read). The writer uses ctx, not gctx: gctx ends when
	// Wait returns.
	writer := store.NewCustomerWriter(ctx, runID)
	recycler, _ := client.(Recycler)
	if feed != nil || recycler != nil {
		writer.OnCommit(func(ds []*ledger.CustomerData) {
			if feed != nil {
				feed.committed(ds) // only committed customers count
			}
			// Committed and fed: nothing refers to the customers' arrays
			// any more (the feed keeps no line, the writer's rows are
			// released); a reused customer's data was not fetched.
			if recycler != nil {
				for _, d := range ds {
					if d.CopyFrom == 0 {
						recycler.Recycle(d.Receivables, d.Subscriptions)
						d.Receivables, d.Subscriptions = nil, nil
					}
				}
			}
		})
	}
	if early != nil {
		// Each customer's lines go to the receivable detail file written
		// ahead, formatted on the fetcher's goroutine as it stores them.
		writer.OnSave(func(d *ledger.CustomerData, lines *ledger.EncodedLines) {
			var each func(func(string, *billing.ReceivableCharge) error) error
			if lines.Encoded() {
				each = lines.Each
			}
			early.Customer(d.CustomerID, d.Coverage == billing.CoverageAvailable, each)
		})
	}
	total := len(customers)
	progress.Phase(PhaseCustomers, "customers", int64(total))
	defer progress.Done()
	for _, i := range fetchOrder(customers) {
		c := customers[i]
		g.Go(func() error {
			var d ledger.CustomerData
			if opts.Reuse != nil && opts.Reuse.reusable(c.ID) {
				d = opts.Reuse.copyOf(c.ID)
				reused.Add(1)
			} else {
				var err error
				d, err = fetchCustomer(gctx, client, c.ID, opts.Date, period, opts.Subscriptions)
				if err != nil {
					return err // interrupted: stop the whole run
				}
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
		})
	}
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
	early.Finish() // every customer is stored
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
func fetchCustomer(ctx context.Context, client Client, customerID string, date billing.Date, period billing.Period, withSubs bool) (ledger.CustomerData, error) {
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
	if p.Equal(period) {
		d.Coverage = billing.CoverageAvailable
	} else {
		d.Coverage = billing.CoveragePeriodDiffers
		d.Error = fmt.Sprintf("receivables period %s differs from payable period %s", p, period)
	}
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
	args = append(args, extra...)
	log.Info("stage done", append(args, memoryAttrs()...)...)
}

// fetchOrder is the order the fan-out fetches the customers in: by id, in
// byte order, which is the order the ledger keeps a run's receivable lines
// and subscriptions in (their tables and indexes lead with run and customer
// id). The customers then commit in about that order and their rows are
// appended at the end of the run's range instead of at random places in it:
// at 2,000 customers / 200k lines that wrote 15–18 % fewer bytes (fewer
// page splits, and fewer pages leaving SQLite's cache and coming back) for
// a ledger 1.6 % smaller. What is stored and reported does not depend on
// the order.
func fetchOrder(customers []billing.Customer) []int {
	order := make([]int, len(customers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(customers[a].ID, customers[b].ID) })
	return order
}
