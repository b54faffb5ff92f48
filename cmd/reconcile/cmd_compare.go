package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// runPickFlags select one run by --<month> YYYY-MM or --<run> ID.
type runPickFlags struct {
	monthFlag, runFlag string
	month, run         string
}

func (p *runPickFlags) register(fs *flag.FlagSet, monthFlag, runFlag, what string) {
	p.monthFlag, p.runFlag = monthFlag, runFlag
	fs.StringVar(&p.month, monthFlag, "", what+" period as `YYYY-MM` (its latest complete run, else the latest partial one)")
	fs.StringVar(&p.run, runFlag, "", what+" fetch run `ID` (see 'reconcile runs')")
}

func (p *runPickFlags) pick() (job.RunPick, error) {
	switch {
	case (p.month == "") == (p.run == ""):
		return job.RunPick{}, usagef("compare: give exactly one of --%s and --%s", p.monthFlag, p.runFlag)
	case p.month != "":
		if _, err := time.Parse("2006-01", p.month); err != nil || len(p.month) != 7 {
			return job.RunPick{}, usagef("--%s %q: want YYYY-MM", p.monthFlag, p.month)
		}
		return job.RunPick{Month: p.month}, nil
	}
	id, err := strconv.ParseInt(p.run, 10, 64)
	if err != nil || id <= 0 {
		return job.RunPick{}, usagef("--%s %q: want a run id from 'reconcile runs'", p.runFlag, p.run)
	}
	return job.RunPick{ID: id}, nil
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	setMemoryRoomShare(4) // see memlimit.go
	fs := newFlagSet("compare", "reconcile compare (--base YYYY-MM | --base-run ID) (--period YYYY-MM | --run ID) [--db PATH] [--out FILE.xlsx] [--json FILE|-] [--tolerance 0.01]", stderr)
	var base, cur runPickFlags
	base.register(fs, "base", "base-run", "base")
	cur.register(fs, "period", "run", "current")
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	out := fs.String("out", "", "workbook `FILE.xlsx` (default comparison-<baseFrom>_<baseTo>-vs-<from>_<to>.xlsx)")
	jsonOut := fs.String("json", "", "write the comparison JSON to `FILE` (- for stdout)")
	var rules ruleFlags
	rules.register(fs)
	verbose := fs.Bool("v", false, "verbose structured logs on stderr")
	var prof fetchFlags
	fs.StringVar(&prof.cpuProfile, "cpuprofile", "", "write a CPU profile (runtime/pprof) to `FILE`")
	fs.StringVar(&prof.memProfile, "memprofile", "", "write a heap profile (runtime/pprof) to `FILE` at the end")
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	bp, err := base.pick()
	if err != nil {
		return err
	}
	cp, err := cur.pick()
	if err != nil {
		return err
	}
	opts, err := rules.options(eff)
	if err != nil {
		return err
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open ledger %s: %w", ledger.Redact(*db), err)
	}
	defer store.Close() //nolint:errcheck // read-only: nothing to lose
	stopProfiles, err := prof.startProfiles()
	if err != nil {
		return err
	}
	defer stopProfiles()
	_, err = job.Compare(ctx, job.CompareOptions{
		Ledger: store, Base: bp, Current: cp, Reconcile: opts,
		Workbook: *out, JSON: *jsonOut, Stdout: stdout,
		ToolVersion: toolVersion(),
		Messages:    stderr, Logger: newLogger(stderr, *verbose),
	})
	return err
}

func runTrend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trend", "reconcile trend --from YYYY-MM --to YYYY-MM [--db PATH] [--out FILE.xlsx] [--json FILE|-]", stderr)
	from := fs.String("from", "", "first month, `YYYY-MM`")
	to := fs.String("to", "", "last month, `YYYY-MM` (inclusive)")
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	out := fs.String("out", "", "workbook `FILE.xlsx` (default trend-<from>_<to>.xlsx)")
	jsonOut := fs.String("json", "", "write the trend JSON to `FILE` (- for stdout)")
	var rules ruleFlags
	rules.register(fs)
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usagef("trend: --from and --to are required")
	}
	for _, m := range []struct{ flag, v string }{{"from", *from}, {"to", *to}} {
		if _, err := report.ParseMonth(m.v); err != nil {
			return usagef("--%s %q: want YYYY-MM", m.flag, m.v)
		}
	}
	if *to < *from {
		return usagef("trend: --to %s is before --from %s", *to, *from)
	}
	opts, err := rules.options(eff)
	if err != nil {
		return err
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open ledger %s: %w", ledger.Redact(*db), err)
	}
	defer store.Close() //nolint:errcheck // read-only: nothing to lose
	_, err = job.Trend(ctx, job.TrendOptions{
		Ledger: store, From: *from, To: *to, Reconcile: opts,
		Workbook: *out, JSON: *jsonOut, Stdout: stdout,
		ToolVersion: toolVersion(), Messages: stderr,
	})
	return err
}
