package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// demoBaseDate is the month the demo compares its close with: the month
// before the simulator's anchor month (History on). In that month one
// customer's receivables always fail, so the demo comparison shows the
// coverage bucket and is marked INCOMPLETE, as a real one would be.
const demoBaseDate billing.Date = "2026-09-01"

// demoCompare fetches the month before the close into the demo's ledger and
// writes the comparison of that month with the close's month into dir. It
// runs after the close, so that the close's run keeps run id 1 (and the
// close sample stays byte-identical). An INCOMPLETE comparison is the
// demo's expected outcome, not an error.
func demoCompare(ctx context.Context, dir string, current billing.Period, opts report.Options, f *fetchFlags, env fetchEnv, stdout, stderr io.Writer) error {
	log := newLogger(stderr, f.verbose)
	store, err := openWritable(ctx, f.db)
	if err != nil {
		return err
	}
	bf := *f
	bf.maxAttempts = 2 // the failing customer answers 503 on every attempt: do not wait long for it
	client, err := newClient(ctx, &bf, env, log)
	if err != nil {
		_ = store.Close() // the client error is the one to report
		return err
	}
	base, err := job.Fetch(ctx, client, store, fetchOptions(demoBaseDate, &bf, env, log, nil))
	if cerr := store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, job.ErrIncomplete) {
		return fmt.Errorf("fetch %s: %w", demoBaseDate, err)
	}
	ro, err := ledger.Open(ctx, f.db, ledger.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open ledger %s: %w", f.db, err)
	}
	defer ro.Close() //nolint:errcheck // read-only: nothing to lose
	name := job.DefaultComparisonName(base.Period, current)
	out := filepath.Join(dir, name)
	jsonOut := strings.TrimSuffix(out, ".xlsx") + ".json"
	_, err = job.Compare(ctx, job.CompareOptions{
		Ledger:    ro,
		Base:      job.RunPick{Month: string(demoBaseDate)[:7]},
		Current:   job.RunPick{Month: string(current.From)[:7]},
		Reconcile: opts,
		Workbook:  out, JSON: jsonOut,
		ToolVersion: env.version,
		Logger:      log,
	})
	if err != nil && !errors.Is(err, job.ErrIncomplete) {
		return fmt.Errorf("compare: %w", err)
	}
	fmt.Fprintf(stdout, "Demo comparison of %s with %s written to:\n  %s\n  %s\n", base.Period, current, out, jsonOut)
	return nil
}
