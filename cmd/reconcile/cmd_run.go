package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// ruleFlags are the reconciliation rules' flags of every command that
// reconciles runs (run, report, accept, compare, trend): with the
// configuration's mapping (withRules) they make the report.Options, so a
// comparison reconciles each run exactly as its report did.
type ruleFlags struct {
	tolerance string
	lowMargin string
}

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.tolerance, "tolerance", "0.01", "negative-margin tolerance per line key, in the line's currency")
	fs.StringVar(&r.lowMargin, "low-margin", "", "low_margin finding for every customer × currency row whose margin % is below this `PERCENT` (default off)")
}

// options are the rules of the flags and of the configuration eff.
func (r *ruleFlags) options(eff *config.Effective) (report.Options, error) {
	tol, err := decimal.NewFromString(r.tolerance)
	if err != nil || tol.IsNegative() {
		return report.Options{}, usagef("--tolerance %q: want a non-negative decimal", r.tolerance)
	}
	opts := report.Options{Tolerance: tol}
	if r.lowMargin != "" {
		lm, err := decimal.NewFromString(r.lowMargin)
		if err != nil {
			return report.Options{}, usagef("--low-margin %q: want a decimal percentage such as 5", r.lowMargin)
		}
		opts.LowMarginPercent = decimal.NullDecimal{Decimal: lm, Valid: true}
	}
	return withRules(opts, eff), nil
}

// reportFlags are the flags shared by `run` and `report`.
type reportFlags struct {
	ruleFlags
	out            string
	failOnFindings bool
	detail         string
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.out, "out", "", "the workbook: a `FILE.xlsx` (.xlsx is added to a name without extension), or a folder (DIR/ or an existing folder) for reconciliation-<from>_<to>.xlsx in it (default: that name in the current folder)")
	r.ruleFlags.register(fs)
	fs.BoolVar(&r.failOnFindings, "fail-on-findings", false, "exit 4 when a complete run has findings")
	fs.StringVar(&r.detail, "detail", xlsx.DetailXLSX, "where the Payable and Receivable detail goes: `xlsx` (sheets) or csv (files beside the workbook)")
}

func (r *reportFlags) options(eff *config.Effective) (report.Options, error) {
	opts, err := r.ruleFlags.options(eff)
	if err != nil {
		return report.Options{}, err
	}
	if r.detail != xlsx.DetailXLSX && r.detail != xlsx.DetailCSV {
		return report.Options{}, usagef("--detail %q: want xlsx or csv", r.detail)
	}
	return opts, nil
}

func (r *reportFlags) settings() []job.Setting {
	s := []job.Setting{{Name: "tolerance", Value: r.tolerance}, {Name: "detail", Value: r.detail}}
	if r.lowMargin != "" {
		s = append(s, job.Setting{Name: "low margin %", Value: r.lowMargin})
	}
	return s
}

func runClose(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "reconcile run (--period YYYY-MM | --date YYYY-MM-DD) [--db FILE] [--out FILE.xlsx|DIR/] [--json FILE|-]", stderr)
	var f fetchFlags
	var r reportFlags
	f.register(fs)
	r.register(fs)
	retry := fs.Bool("retry-missing", false, "complete the period's latest incomplete run: fetch again only the customers whose receivables it misses (and new customers), reuse the stored receivables of the others, and write a new, complete run")
	emailFlag := fs.Bool("email", false, "mail the report after it was written (RECONCILE_SMTP_*, RECONCILE_MAIL_*; exit 5 when the mail fails)")
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	date, stopProfiles, err := f.prepare("run")
	if err != nil {
		return err
	}
	defer stopProfiles()
	opts, err := r.options(eff)
	if err != nil {
		return err
	}
	api, err := apiConfigFrom(eff)
	if err != nil {
		return err
	}
	var email *emailAfterRun
	if *emailFlag {
		// Checked before the run: a mail that cannot be sent is known now.
		s, err := mailSettingsOf(eff)
		if err != nil {
			return err
		}
		if err := s.Validate(true); err != nil {
			return mailConfigError(err)
		}
		email = &emailAfterRun{settings: s}
	}
	warnFuturePeriod(date, time.Now(), stderr)
	return closePeriod(ctx, closeParams{
		date: date, fetch: &f, report: &r, opts: opts, retryMissing: *retry,
		env:    fetchEnv{api: api, now: time.Now, version: toolVersion()},
		email:  email,
		outDir: eff.Get("output_dir"),
	}, stdout, stderr)
}

type closeParams struct {
	date   billing.Date
	fetch  *fetchFlags
	report *reportFlags
	opts   report.Options
	env    fetchEnv
	// outDir, when set, is where the default-named workbook goes.
	outDir string
	// retryMissing completes the period's latest partial run (run
	// --retry-missing).
	retryMissing bool
	// email, when set, mails the report once it is written (run --email).
	email *emailAfterRun
}

// closePeriod maps the flags of a close to job.Close: preflight, fetch,
// reconcile, write.
func closePeriod(ctx context.Context, p closeParams, stdout, stderr io.Writer) error {
	store, err := openWritable(ctx, p.fetch.db)
	if err != nil {
		return err
	}
	warnLedgerMode(stderr, p.fetch.db)
	defer store.Close() //nolint:errcheck // everything fetched is committed run by run; Close loses nothing
	unlock, err := lockPeriod(ctx, store, p.date, p.fetch.lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	fo := job.FetchOptions{}
	if p.retryMissing {
		base, reuse, err := retryBase(ctx, store, p.date)
		if err != nil {
			return err
		}
		if reuse == nil {
			fmt.Fprintf(stderr, "run %d of %s is already complete: nothing to retry ('reconcile report --run %d' writes its report again)\n", base.ID, base.Period, base.ID)
			return nil
		}
		fmt.Fprintf(stderr, "retrying run %d (%s): %d customers' receivables are reused, the others fetched\n", base.ID, base.Status, len(reuse.Available))
		fo.Reuse = reuse
	}
	progress, log, env := startProgress(p.fetch, p.env, stderr)
	if progress != nil {
		defer progress.Close()
	}
	client, err := newClient(ctx, p.fetch, env, log)
	if err != nil {
		return err
	}
	if progress != nil {
		progress.stats = apiStats(progress.bytes, client)
	}
	opts := fetchOptions(p.date, p.fetch, env, log, progress)
	opts.Reuse = fo.Reuse
	ro := p.report.reportOptions(p.opts, p.outDir, p.fetch.jsonOut, log, stdout, stderr)
	ro.Progress = progress.orNone()
	if fs, ok := ro.Sink.(*job.FileSink); ok {
		fs.Progress = progress.orNone()
	}
	if progress != nil {
		ro.Messages = progress.p // the outcome line prints above the bars
	}
	rs := &job.RecordingSink{Sink: ro.Sink}
	if p.email != nil {
		ro.Sink = rs
	}
	err = job.Close(ctx, job.CloseOptions{
		Ledger:        store,
		Client:        client,
		Fetch:         opts,
		ReportOptions: ro,
	})
	if p.email != nil {
		return deliverAfterClose(ctx, p.email, store, rs, p.report.detail, err, log, stderr)
	}
	return err
}

// retryBase finds the run that --retry-missing completes: the latest
// partial run of the period. With a complete run of the period, there is
// nothing to retry (nil Reuse, nil error, after saying so).
func retryBase(ctx context.Context, store *ledger.Store, date billing.Date) (ledger.Run, *job.Reuse, error) {
	base, err := store.FindRun(ctx, date)
	if errors.Is(err, ledger.ErrNotFound) {
		return base, nil, fmt.Errorf("--retry-missing: no incomplete run of the period of %s in %s to retry: run without --retry-missing", date, store.Path())
	}
	if err != nil {
		return base, nil, err
	}
	if base.Status == billing.RunComplete {
		return base, nil, nil
	}
	reuse, err := job.NewReuse(ctx, store, base)
	return base, reuse, err
}

// reportOptions are the job's options for the report flags.
func (r *reportFlags) reportOptions(opts report.Options, outDir, jsonOut string, log *slog.Logger, stdout, stderr io.Writer) job.ReportOptions {
	workbook, dir := resolveOut(r.out)
	if dir == "" {
		dir = outDir
	}
	return job.ReportOptions{
		Sink: &job.FileSink{
			Workbook: workbook, Dir: dir, JSON: jsonOut, Stdout: stdout,
			Detail: r.detail, Logger: log,
		},
		Reconcile:      opts,
		Settings:       r.settings(),
		FailOnFindings: r.failOnFindings,
		Logger:         log,
		Messages:       stderr,
	}
}

// resolveOut reads --out: a trailing separator or an existing folder means
// a folder for the default-named workbook (dir); otherwise it is the
// workbook's file, with ".xlsx" added when the name has no extension.
func resolveOut(out string) (file, dir string) {
	if out == "" {
		return "", ""
	}
	if strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) {
		return "", filepath.Clean(out)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return "", out
	}
	if filepath.Ext(out) == "" {
		out += ".xlsx"
	}
	return out, ""
}

// startProfiles starts the CPU profile of --cpuprofile; the returned stop
// ends it and writes the heap profile of --memprofile. Profiling problems at
// the end are reported on stderr, they do not change the outcome of the run.
func (f *fetchFlags) startProfiles() (stop func(), err error) {
	var cpu *os.File
	if f.cpuProfile != "" {
		cpu, err = os.Create(f.cpuProfile)
		if err != nil {
			return nil, usagef("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close() // the start error is the one to report
			return nil, fmt.Errorf("start CPU profile: %w", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "write CPU profile %s: %v\n", f.cpuProfile, err)
			}
		}
		if f.memProfile != "" {
			if err := writeHeapProfile(f.memProfile); err != nil {
				fmt.Fprintf(os.Stderr, "write heap profile %s: %v\n", f.memProfile, err)
			}
		}
	}, nil
}

func writeHeapProfile(path string) error {
	mf, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // up-to-date statistics of what is still live
	if err := pprof.WriteHeapProfile(mf); err != nil {
		_ = mf.Close() // the write error is the one to report
		return err
	}
	return mf.Close()
}
