package main

import (
	"context"
	_ "embed" // the demo configuration
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// Demo and simulator defaults. The demo's clock is fixed so that its output
// (sample-output/) is byte-for-byte reproducible.
const (
	demoSeed      = 20261001
	demoCustomers = 24
	demoCharges   = 240
	demoVersion   = "demo"
)

var demoClock = time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "reconcile sim [--addr 127.0.0.1:8089] [--seed N] [--customers N] [--charges N] [--history]", stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen `address` (loopback unless you mean otherwise)")
	seed := fs.Int64("seed", demoSeed, "data generator seed")
	customers := fs.Int("customers", demoCustomers, "number of customers")
	charges := fs.Int("charges", demoCharges, "approximate payable lines per period")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "lifetime of issued access tokens")
	rateLimit := fs.Float64("rate-limit", 0, "server-side rate limit in requests/s, answered with 429 (0 = none)")
	latency := fs.Duration("latency", 0, "added latency per API call")
	failCustomers := fs.String("fail-customers", "", "comma-separated customer `IDS` whose receivables always answer 503")
	history := fs.Bool("history", false, "serve a history of months around the demo period with planted month-over-month changes (the demo period itself is unchanged)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkNumbers(
		intCheck("customers", *customers, true, "a number of customers, 0 or more"),
		intCheck("charges", *charges, true, "a number of payable lines, 0 or more"),
		durCheck("token-ttl", *tokenTTL, false, "a positive duration such as 1h"),
		floatCheck("rate-limit", *rateLimit, true, "requests per second, 0 for no limit"),
		durCheck("latency", *latency, true, "a duration, 0 or more"),
	); err != nil {
		return err
	}
	cfg := sherwebsim.Config{Seed: *seed, Customers: *customers, Charges: *charges, TokenTTL: *tokenTTL, History: *history}
	cfg.Faults.RateLimit = *rateLimit
	cfg.Faults.Latency = *latency
	if *failCustomers != "" {
		cfg.Faults.FailCustomerAlways = strings.Split(*failCustomers, ",")
	}
	sim := sherwebsim.New(cfg)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	p := sim.DefaultPeriod()
	fmt.Fprintf(stdout, `Sherweb simulator listening on http://%s (demo period %s)
Point reconcile at it with:
  export SHERWEB_BASE_URL=http://%s
  export SHERWEB_CLIENT_ID=sim-client SHERWEB_CLIENT_SECRET=sim-secret SHERWEB_SUBSCRIPTION_KEY=sim-key
  reconcile run --period %s
Ctrl-C stops it.
`, ln.Addr(), p, ln.Addr(), string(p.From)[:7])
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve simulator: %w", err)
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		return nil
	}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "reconcile demo [--out DIR]", stderr)
	dir := fs.String("out", "sample-output", "`DIR` for the workbook and JSON summary")
	verbose := fs.Bool("v", false, "verbose structured logs on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return demo(ctx, *dir, *verbose, stdout, stderr)
}

// demoConfig is the demo's configuration file: one customer mapping
// (attribution rule 0) for the simulator's old customer name.
//
//go:embed demo.toml
var demoConfig []byte

// withDemoConfig adds the demo configuration's mapping to the options.
func withDemoConfig(opts report.Options) (report.Options, error) {
	f, err := config.Parse("demo.toml (built in)", demoConfig)
	if err != nil {
		return opts, err
	}
	return withRules(opts, &config.Effective{Mapping: f.Mapping, Internal: f.Internal}), nil
}

// demo runs the monthly close against the built-in simulator on loopback,
// with a temporary ledger and a fixed clock.
func demo(ctx context.Context, dir string, verbose bool, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// History: the anchor month (the close) is served exactly as without it;
	// the month before differs by planted changes (for the comparison).
	sim := sherwebsim.New(sherwebsim.Config{Seed: demoSeed, Customers: demoCustomers, Charges: demoCharges, History: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)  //nolint:errcheck // ends with http.ErrServerClosed when the demo returns
	defer srv.Close() //nolint:errcheck // the demo is over: closing the loopback simulator

	tmp, err := os.MkdirTemp("", "reconcile-demo-*")
	if err != nil {
		return fmt.Errorf("create temporary ledger folder: %w", err)
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // best effort: a temporary ledger folder

	p := sim.DefaultPeriod()
	base := fmt.Sprintf("reconciliation-%s_%s", p.From, p.To)
	f := &fetchFlags{
		db: filepath.Join(tmp, "demo.db"), jsonOut: filepath.Join(dir, base+".json"),
		concurrency: job.DefaultConcurrency, maxAttempts: 6, maxWait: 60 * time.Second, timeout: 60 * time.Second, verbose: verbose,
	}
	r := &reportFlags{ruleFlags: ruleFlags{tolerance: "0.01"}, out: filepath.Join(dir, base+".xlsx"), detail: xlsx.DetailXLSX}
	opts, err := r.options(&config.Effective{})
	if err != nil {
		return err
	}
	if opts, err = withDemoConfig(opts); err != nil {
		return err
	}
	env := fetchEnv{
		api: apiConfig{
			BaseURL: "http://" + ln.Addr().String(), ClientID: "sim-client",
			ClientSecret: "sim-secret", SubscriptionKey: "sim-key",
		},
		displayURL: "built-in simulator (seed " + fmt.Sprint(demoSeed) + ")",
		now:        func() time.Time { return demoClock },
		version:    demoVersion,
	}
	err = closePeriod(ctx, closeParams{date: p.From, fetch: f, report: r, opts: opts, env: env}, stdout, stderr)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("demo: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Demo reconciliation of %s written to:\n  %s\n  %s\n", p, r.out, f.jsonOut)
	// The comparison with the month before (demo_compare.go).
	if err := demoCompare(ctx, dir, p, opts, f, env, stdout, stderr); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
