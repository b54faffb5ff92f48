package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// reportFlags are the flags shared by `run` and `report`.
type reportFlags struct {
	out            string
	tolerance      string
	failOnFindings bool
	detail         string
	lowMargin      string
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.out, "out", "", "workbook `FILE.xlsx` (default reconciliation-<from>_<to>.xlsx)")
	fs.StringVar(&r.tolerance, "tolerance", "0.01", "negative-margin tolerance per line key, in the line's currency")
	fs.BoolVar(&r.failOnFindings, "fail-on-findings", false, "exit 4 when a complete run has findings")
	fs.StringVar(&r.lowMargin, "low-margin", "", "low_margin finding for every customer × currency row whose margin % is below this `PERCENT` (default off)")
	fs.StringVar(&r.detail, "detail", xlsx.DetailXLSX, "where the Payable and Receivable detail goes: `xlsx` (sheets) or csv (files beside the workbook)")
}

func (r *reportFlags) options() (report.Options, error) {
	tol, err := decimal.NewFromString(r.tolerance)
	if err != nil || tol.IsNegative() {
		return report.Options{}, usagef("--tolerance %q: want a non-negative decimal", r.tolerance)
	}
	if r.detail != xlsx.DetailXLSX && r.detail != xlsx.DetailCSV {
		return report.Options{}, usagef("--detail %q: want xlsx or csv", r.detail)
	}
	opts := report.Options{Tolerance: tol}
	if r.lowMargin != "" {
		lm, err := decimal.NewFromString(r.lowMargin)
		if err != nil {
			return report.Options{}, usagef("--low-margin %q: want a decimal percentage such as 5", r.lowMargin)
		}
		opts.LowMarginPercent = decimal.NullDecimal{Decimal: lm, Valid: true}
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
	fs := newFlagSet("run", "reconcile run (--period YYYY-MM | --date YYYY-MM-DD) [--db PATH] [--out FILE.xlsx] [--json FILE|-]", stderr)
	var f fetchFlags
	var r reportFlags
	f.register(fs)
	r.register(fs)
	registerConfigFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	eff, err := applyConfig(fs, stderr)
	if err != nil {
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
	opts = withRules(opts, eff)
	api, err := apiConfigFrom(eff)
	if err != nil {
		return err
	}
	return closePeriod(ctx, closeParams{
		date: date, fetch: &f, report: &r, opts: opts,
		env:    fetchEnv{api: api, now: time.Now, version: toolVersion()},
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
}

// closePeriod maps the flags of a close to job.Close: preflight, fetch,
// reconcile, write.
func closePeriod(ctx context.Context, p closeParams, stdout, stderr io.Writer) error {
	log := newLogger(stderr, p.fetch.verbose)
	store, err := openWritable(ctx, p.fetch.db)
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // everything fetched is committed run by run; Close loses nothing
	client, err := newClient(ctx, p.fetch, p.env, log)
	if err != nil {
		return err
	}
	return job.Close(ctx, job.CloseOptions{
		Ledger:        store,
		Client:        client,
		Fetch:         fetchOptions(p.date, p.fetch, p.env, log, stderr),
		ReportOptions: p.report.reportOptions(p.opts, p.outDir, p.fetch.jsonOut, log, stdout, stderr),
	})
}

// reportOptions are the job's options for the report flags.
func (r *reportFlags) reportOptions(opts report.Options, outDir, jsonOut string, log *slog.Logger, stdout, stderr io.Writer) job.ReportOptions {
	return job.ReportOptions{
		Sink: &job.FileSink{
			Workbook: r.out, Dir: outDir, JSON: jsonOut, Stdout: stdout,
			Detail: r.detail, Logger: log,
		},
		Reconcile:      opts,
		Settings:       r.settings(),
		FailOnFindings: r.failOnFindings,
		Logger:         log,
		Messages:       stderr,
	}
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
