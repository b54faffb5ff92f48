package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/msp-reconcile/reconcile/internal/atomicfile"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// fetchFlags are the flags shared by `fetch` and `run`.
type fetchFlags struct {
	periodFlags
	db          string
	lockWait    time.Duration
	jsonOut     string
	concurrency int
	maxAttempts int
	maxWait     time.Duration
	timeout     time.Duration
	rate        float64
	noSubs      bool
	verbose     bool
	cpuProfile  string
	memProfile  string
}

func (f *fetchFlags) register(fs *flag.FlagSet) {
	f.periodFlags.register(fs)
	fs.StringVar(&f.db, "db", dbDefault(), "ledger: a SQLite `FILE` (or sqlite:FILE), or a postgres:// URL ($RECONCILE_DB)")
	fs.DurationVar(&f.lockWait, "lock-wait", 0, "when another close of the same period holds its lock, wait up to this long for it (0: fail at once, naming who holds it)")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON summary to `FILE` (- for stdout)")
	fs.IntVar(&f.concurrency, "concurrency", job.DefaultConcurrency, "per-customer API calls in flight")
	fs.IntVar(&f.maxAttempts, "max-attempts", 6, "attempts per API request (429, 5xx, timeouts are retried)")
	fs.DurationVar(&f.maxWait, "max-wait", 60*time.Second, "longest single wait before a retry; a longer Retry-After fails the request")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "per-request timeout (and longest stall while reading a body)")
	fs.Float64Var(&f.rate, "rate", 0, "client-side request rate ceiling in requests/s (0 = unthrottled until the first 429, then learned from the server)")
	fs.BoolVar(&f.noSubs, "no-subscriptions", false, "do not fetch customers' subscriptions (reference data)")
	fs.BoolVar(&f.verbose, "v", false, "verbose structured logs on stderr")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (runtime/pprof) to `FILE`")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile (runtime/pprof) to `FILE` at the end")
}

// prepare is the opening shared by fetch and run once the flags are parsed:
// it checks the numeric flags, resolves the period (required) and starts
// the profiles; the caller defers stop.
func (f *fetchFlags) prepare(cmd string) (date billing.Date, stop func(), err error) {
	if err := f.validate(); err != nil {
		return "", nil, err
	}
	if date, err = f.resolve(); err != nil {
		return "", nil, err
	}
	if date == "" {
		return "", nil, usagef("%s: --period or --date is required", cmd)
	}
	if stop, err = f.startProfiles(); err != nil {
		return "", nil, err
	}
	return date, stop, nil
}

// validate checks the numeric flags (exit 2 before anything is recorded).
func (f *fetchFlags) validate() error {
	return checkNumbers(
		intCheck("concurrency", f.concurrency, false, "a number of calls in flight, 1 or more"),
		intCheck("max-attempts", f.maxAttempts, false, "1 or more attempts (1 = no retry)"),
		durCheck("max-wait", f.maxWait, false, "a positive duration such as 60s"),
		durCheck("timeout", f.timeout, false, "a positive duration such as 60s"),
		floatCheck("rate", f.rate, true, "requests per second, 0 for no limit"),
	)
}

func (f *fetchFlags) settings() []job.Setting {
	return []job.Setting{
		{Name: "concurrency", Value: strconv.Itoa(f.concurrency)},
		{Name: "max attempts", Value: strconv.Itoa(f.maxAttempts)},
		{Name: "max wait", Value: f.maxWait.String()},
		{Name: "request timeout", Value: f.timeout.String()},
		{Name: "rate limit (req/s)", Value: strconv.FormatFloat(f.rate, 'f', -1, 64)},
		{Name: "subscriptions", Value: strconv.FormatBool(!f.noSubs)},
	}
}

// fetchEnv is what a fetch needs besides flags; tests and the demo fill it
// directly instead of the environment.
type fetchEnv struct {
	api        apiConfig
	displayURL string // recorded as the run's API base URL instead of api.BaseURL, when set
	httpClient *http.Client
	now        func() time.Time
	version    string
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fetch", "reconcile fetch (--period YYYY-MM | --date YYYY-MM-DD) [--db FILE] [--json FILE|-]", stderr)
	var f fetchFlags
	f.register(fs)
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	date, stopProfiles, err := f.prepare("fetch")
	if err != nil {
		return err
	}
	defer stopProfiles()
	api, err := apiConfigFrom(eff)
	if err != nil {
		return err
	}
	env := fetchEnv{api: api, now: time.Now, version: toolVersion()}
	warnFuturePeriod(date, env.now(), stderr)
	progress, log, env := startProgress(&f, env, stderr)

	store, err := openWritable(ctx, f.db)
	if err != nil {
		return err
	}
	warnLedgerMode(stderr, f.db)
	defer store.Close() //nolint:errcheck // everything fetched is committed run by run; Close loses nothing
	unlock, err := lockPeriod(ctx, store, date, f.lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if err := job.PrepareOutputs(f.jsonOut); err != nil {
		return err
	}
	client, err := newClient(ctx, &f, env, log)
	if err != nil {
		return err
	}
	if progress != nil {
		progress.stats = apiStats(progress.bytes, client)
	}
	run, fetchErr := job.Fetch(ctx, client, store, fetchOptions(date, &f, env, log, progress))
	if progress != nil {
		progress.Close()
	}
	if run.ID == 0 {
		return fetchErr
	}
	sum, err := job.Summarize(ctx, store, run)
	if err != nil {
		return errors.Join(fetchErr, err)
	}
	if err := writeJSON(f.jsonOut, stdout, sum.WriteJSON); err != nil {
		return errors.Join(fetchErr, err)
	}
	fmt.Fprintf(stderr, "run %d %s: period %s, %d payable lines, %d customers (%d with receivables), %d calls, %d retries\n",
		run.ID, run.Status, run.Period, sum.Payable.Lines, sum.Coverage.Customers, sum.Coverage.ReceivablesAvailable, run.Calls, run.Retries)
	return fetchErr
}

// openWritable opens the ledger and checks, before any API call, that it can
// be written: the file itself, and its folder (SQLite's WAL and shared-memory
// files live beside it).
func openWritable(ctx context.Context, target string) (*ledger.Store, error) {
	path, isFile := ledger.SQLitePath(target)
	if !isFile {
		// PostgreSQL: the server checks; CheckWritable below proves a write.
		return openWritableStore(ctx, target)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("ledger %s: its folder %s does not exist: create it (mkdir -p %s) or point --db (or $RECONCILE_DB) elsewhere", path, dir, dir)
	}
	probe, err := os.CreateTemp(dir, ".reconcile-preflight-*.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the probe's name is ours, not the user's
		}
		return nil, fmt.Errorf("ledger %s is not writable: its folder %s: %w", path, dir, err)
	}
	_ = probe.Close()           // an empty probe
	_ = os.Remove(probe.Name()) // best effort: a leftover probe is cleaned as a stale temp
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		_ = f.Close() // opened only to prove write access
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ledger %s is not writable: %w", path, err)
	}
	return openWritableStore(ctx, path)
}

func openWritableStore(ctx context.Context, target string) (*ledger.Store, error) {
	store, err := ledger.Open(ctx, target, ledger.Options{})
	if err != nil {
		return nil, err
	}
	if err := store.CheckWritable(ctx); err != nil {
		_ = store.Close() // the writability error is the one to report
		return nil, err
	}
	return store, nil
}

// newClient builds the Sherweb client of the fetch flags.
func newClient(ctx context.Context, f *fetchFlags, env fetchEnv, log *slog.Logger) (*fetch.Client, error) {
	client, err := fetch.New(ctx, fetch.Config{
		BaseURL:         env.api.BaseURL,
		ClientID:        env.api.ClientID,
		ClientSecret:    env.api.ClientSecret,
		SubscriptionKey: env.api.SubscriptionKey,
		HTTPClient:      env.httpClient,
		InFlight:        f.concurrency,
		RequestTimeout:  f.timeout,
		MaxAttempts:     f.maxAttempts,
		MaxWait:         f.maxWait,
		Rate:            f.rate,
		Logger:          log,
	})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return client, nil
}

// fetchOptions are the job's options for the fetch flags.
func fetchOptions(date billing.Date, f *fetchFlags, env fetchEnv, log *slog.Logger, progress *termProgress) job.FetchOptions {
	opts := job.FetchOptions{
		Date:          date,
		BaseURL:       baseURLForRecord(env),
		ToolVersion:   env.version,
		Concurrency:   f.concurrency,
		Subscriptions: !f.noSubs,
		Settings:      f.settings(),
		Now:           env.now,
		Logger:        log,
		Progress:      progress.orNone(),
	}
	return opts
}

// startProgress starts the progress display when stderr is a terminal: the
// logs of -v then print above it, and the API client counts the bytes it
// receives. It returns the display (nil for none), the logger and env to use.
func startProgress(f *fetchFlags, env fetchEnv, stderr io.Writer) (*termProgress, *slog.Logger, fetchEnv) {
	progress := newProgress(stderr)
	if progress == nil {
		return nil, newLogger(stderr, f.verbose), env
	}
	var bytes atomic.Int64
	base := http.RoundTripper(fetch.NewTransport(f.concurrency))
	hc := &http.Client{}
	if env.httpClient != nil {
		*hc = *env.httpClient
		if hc.Transport != nil {
			base = hc.Transport
		}
	}
	hc.Transport = countingTransport{base: base, bytes: &bytes}
	env.httpClient = hc
	progress.bytes = &bytes
	return progress, newLogger(progress.p, f.verbose), env
}

// apiStats is the progress display's API counters.
func apiStats(bytes *atomic.Int64, client *fetch.Client) func() string {
	return func() string {
		st := client.Stats()
		return fmt.Sprintf("%s received, %d calls, %d retries, %d × 429", humanBytes(bytes.Load()), st.Calls, st.Retries, st.RateLimited)
	}
}

// writeJSON writes to stdout for "-", atomically to a file otherwise.
func writeJSON(path string, stdout io.Writer, write func(io.Writer) error) error {
	switch path {
	case "":
		return nil
	case "-":
		return write(stdout)
	}
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("write JSON %s: %w", path, err)
	}
	return nil
}

func baseURLForRecord(env fetchEnv) string {
	if env.displayURL != "" {
		return env.displayURL
	}
	return env.api.BaseURL
}

// lockPeriod takes the ledger's lock on the month of date for the whole
// close (see ledger.LockPeriod): two closes of one period at the same moment
// queue, or the second fails naming who holds it.
func lockPeriod(ctx context.Context, store *ledger.Store, date billing.Date, wait time.Duration) (unlock func(), err error) {
	month := string(date)
	if len(month) >= 7 {
		month = month[:7]
	}
	lock, err := store.LockPeriod(ctx, month, wait)
	if err != nil {
		return nil, err
	}
	return func() { _ = lock.Release(ctx) }, nil //nolint:errcheck // an unreleased lock expires with its lease
}
