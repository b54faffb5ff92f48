package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", "reconcile report (--period YYYY-MM | --date YYYY-MM-DD | --run ID) [--db FILE] [--out FILE.xlsx|DIR/] [--json FILE|-]", stderr)
	var p periodFlags
	var r reportFlags
	p.register(fs)
	r.register(fs)
	db := fs.String("db", dbDefault(), "ledger database `FILE` ($RECONCILE_DB)")
	runID := fs.String("run", "", "report this fetch run `ID` instead of the latest complete one")
	jsonOut := fs.String("json", "", "write the JSON summary to `FILE` (- for stdout)")
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	date, err := p.resolveOrRun("report", *runID)
	if err != nil {
		return err
	}
	opts, err := r.options(eff)
	if err != nil {
		return err
	}
	store, err := openExisting(ctx, *db, true)
	if err != nil {
		return err
	}
	warnLedgerMode(stderr, *db)
	defer store.Close() //nolint:errcheck // read-only: nothing to lose

	var run ledger.Run
	if *runID != "" {
		id, perr := strconv.ParseInt(*runID, 10, 64)
		if perr != nil {
			return usagef("--run %q: want a run id from 'reconcile runs'", *runID)
		}
		run, err = store.Run(ctx, id)
	} else {
		run, err = store.FindRun(ctx, date)
	}
	if errors.Is(err, ledger.ErrNotFound) {
		if *runID != "" {
			return fmt.Errorf("no run %s in %s", *runID, ledger.Redact(*db))
		}
		return fmt.Errorf("no complete or partial run for a period containing %s in %s: run 'reconcile fetch' first", date, ledger.Redact(*db))
	}
	if err != nil {
		return fmt.Errorf("find run: %w", err)
	}
	ro := r.reportOptions(opts, "", *jsonOut, nil, stdout, stderr)
	if progress := newProgress(stderr); progress != nil {
		defer progress.Close()
		ro.Progress = progress
		ro.Messages = progress.p
		if fs, ok := ro.Sink.(*job.FileSink); ok {
			fs.Progress = progress
		}
	}
	return job.Reissue(ctx, job.ReissueOptions{Ledger: store, Run: run, ReportOptions: ro})
}
