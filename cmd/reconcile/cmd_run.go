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
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// reportFlags are the flags shared by `run` and `report`.
type reportFlags struct {
	out            string
	tolerance      string
	failOnFindings bool
	detail         string
	// log, when set, receives the reconcile and workbook stage timings.
	log *slog.Logger
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.out, "out", "", "workbook `FILE.xlsx` (default reconciliation-<from>_<to>.xlsx)")
	fs.StringVar(&r.tolerance, "tolerance", "0.01", "negative-margin tolerance per line key, in the line's currency")
	fs.BoolVar(&r.failOnFindings, "fail-on-findings", false, "exit 4 when a complete run has findings")
	fs.StringVar(&r.detail, "detail", report.DetailXLSX, "where the Payable and Receivable detail goes: `xlsx` (sheets) or csv (files beside the workbook)")
}

func (r *reportFlags) options() (report.Options, error) {
	tol, err := decimal.NewFromString(r.tolerance)
	if err != nil || tol.IsNegative() {
		return report.Options{}, usagef("--tolerance %q: want a non-negative decimal", r.tolerance)
	}
	if r.detail != report.DetailXLSX && r.detail != report.DetailCSV {
		return report.Options{}, usagef("--detail %q: want xlsx or csv", r.detail)
	}
	return report.Options{Tolerance: tol}, nil
}

func (r *reportFlags) settings() []job.Setting {
	return []job.Setting{{Name: "tolerance", Value: r.tolerance}, {Name: "detail", Value: r.detail}}
}

func runClose(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "reconcile run (--period YYYY-MM | --date YYYY-MM-DD) [--db PATH] [--out FILE.xlsx] [--json FILE|-]", stderr)
	var f fetchFlags
	var r reportFlags
	f.register(fs)
	r.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	date, err := f.resolve()
	if err != nil {
		return err
	}
	if date == "" {
		return usagef("run: --period or --date is required")
	}
	stopProfiles, err := f.startProfiles()
	if err != nil {
		return err
	}
	defer stopProfiles()
	opts, err := r.options()
	if err != nil {
		return err
	}
	api, err := apiConfigFromEnv(stderr)
	if err != nil {
		return err
	}
	return closePeriod(ctx, closeParams{
		date: date, fetch: &f, report: &r, opts: opts,
		env: fetchEnv{api: api, now: time.Now, version: toolVersion()},
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
}

// closePeriod is the monthly close: preflight, fetch, reconcile, write.
func closePeriod(ctx context.Context, p closeParams, stdout, stderr io.Writer) error {
	log := newLogger(stderr, p.fetch.verbose)
	store, err := openWritable(ctx, p.fetch.db)
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // everything fetched is committed run by run; Close loses nothing
	// The workbook name depends on the period, which only the API knows; check
	// the folder it will go to now, before any API call.
	outDir := p.outDir
	if p.report.out != "" {
		outDir = filepath.Dir(p.report.out)
	}
	if outDir == "" {
		outDir = "."
	}
	if err := preflightOutput(filepath.Join(outDir, "x")); err != nil {
		return err
	}
	if err := preflightOutput(p.fetch.jsonOut); err != nil {
		return err
	}
	cleanStale(filepath.Join(outDir, "x"), p.fetch.jsonOut)

	run, fetchErr := fetchRun(ctx, store, p.date, p.fetch, p.env, log, stderr)
	if run.ID == 0 || (run.Status != ledger.RunComplete && run.Status != ledger.RunPartial) {
		if fetchErr == nil {
			fetchErr = fmt.Errorf("run %d ended %s", run.ID, run.Status)
		}
		return fetchErr
	}
	out := p.report.out
	if out == "" {
		out = filepath.Join(outDir, defaultWorkbookName(run))
	}
	settings := append(p.fetch.settings(), p.report.settings()...)
	p.report.log = log
	return writeReport(ctx, store, run, p.opts, p.report, settings, out, p.fetch.jsonOut, stdout, stderr, fetchErr)
}

// writeReport reconciles a stored run, writes its outputs and decides the
// outcome: incomplete runs and findings (with --fail-on-findings) are errors
// for the exit code, after the report was written.
func writeReport(ctx context.Context, store *ledger.Store, run ledger.Run, opts report.Options, r *reportFlags, settings []job.Setting, out, jsonOut string, stdout, stderr io.Writer, prior error) error {
	start := time.Now()
	res, err := job.Reconcile(ctx, store, run, opts)
	if err != nil {
		return errors.Join(prior, err)
	}
	job.LogStage(r.log, "reconcile", start, int64(res.PayableLines+res.ReceivableLines), "rows")
	info := job.RunInfo(run, settings)
	if err := job.WriteOutputs(ctx, store, run, res, info, job.Outputs{
		Workbook: out,
		JSON:     jsonOut,
		Stdout:   stdout,
		Options:  report.WorkbookOptions{TmpDir: filepath.Dir(out), Detail: r.detail},
		Logger:   r.log,
	}); err != nil {
		return errors.Join(prior, err)
	}
	state := "COMPLETE"
	if !res.Complete {
		state = "INCOMPLETE"
	}
	fmt.Fprintf(stderr, "run %s %s: period %s, %d findings, workbook %s\n", res.RunID, state, res.Period, len(res.Mismatches), out)
	if !res.Complete {
		if prior != nil && errors.Is(prior, job.ErrIncomplete) {
			return prior
		}
		return fmt.Errorf("%w: run %s", job.ErrIncomplete, res.RunID)
	}
	if prior != nil {
		return prior
	}
	if r.failOnFindings && len(res.Mismatches) > 0 {
		return &findingsError{n: len(res.Mismatches)}
	}
	return nil
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
			_ = cpu.Close() // already failing with StartCPUProfile's error
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
		_ = mf.Close() // already failing with WriteHeapProfile's error
		return err
	}
	return mf.Close()
}

func defaultWorkbookName(run ledger.Run) string {
	return fmt.Sprintf("reconciliation-%s_%s.xlsx", run.Period.From, run.Period.To)
}
