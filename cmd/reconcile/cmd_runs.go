package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// openExisting opens a ledger that must already exist; a missing one gets
// the next step in its message. readOnly opens it read-only.
func openExisting(ctx context.Context, db string, readOnly bool) (*ledger.Store, error) {
	if !ledger.IsPostgres(db) {
		return openExistingFile(ctx, db, readOnly)
	}
	// A database without a ledger in it is PostgreSQL's missing file: say
	// what to do, and do not create the tables from a command that reads.
	ro, err := ledger.Open(ctx, db, ledger.Options{ReadOnly: true})
	if errors.Is(err, ledger.ErrNotLedger) {
		return nil, fmt.Errorf("no ledger in %s: run 'reconcile run --period YYYY-MM' (or 'reconcile fetch') first to create it, or point --db (or $RECONCILE_DB) at your ledger", ledger.Redact(db))
	}
	if readOnly {
		return ro, err // the error names the ledger, without its password
	}
	if err == nil {
		_ = ro.Close()
	}
	return ledger.Open(ctx, db, ledger.Options{}) // migrates an older ledger
}

func openExistingFile(ctx context.Context, db string, readOnly bool) (*ledger.Store, error) {
	db, _ = ledger.SQLitePath(db)
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no ledger at %s: run 'reconcile run --period YYYY-MM' (or 'reconcile fetch') first to create it, or point --db (or $RECONCILE_DB) at your ledger", db)
	}
	store, err := ledger.Open(ctx, db, ledger.Options{ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", db, err)
	}
	return store, nil
}

// runsJSON is one run of `reconcile runs --json`.
type runsJSON struct {
	ID            int64                 `json:"run_id"`
	Status        string                `json:"status"`
	PeriodFrom    string                `json:"period_from"`
	PeriodTo      string                `json:"period_to"`
	RequestedDate string                `json:"requested_date"`
	StartedAt     string                `json:"started_at"`
	FinishedAt    string                `json:"finished_at"`
	Calls         int64                 `json:"calls"`
	Retries       int64                 `json:"retries"`
	ToolVersion   string                `json:"tool_version"`
	Findings      *int                  `json:"findings"`  // null when not computed (not complete)
	Tolerance     string                `json:"tolerance"` // of the findings
	Totals        []ledger.SummaryTotal `json:"totals"`
	Error         string                `json:"error"`
}

func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "prune" {
		return runPrune(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("runs", "reconcile runs [--db FILE] [--json]   |   reconcile runs prune [flags]", stderr)
	db := fs.String("db", dbDefault(), "ledger database `FILE` ($RECONCILE_DB)")
	asJSON := fs.Bool("json", false, "print the runs as JSON (one array) instead of a table")
	tolerance := fs.String("tolerance", "0.01", "tolerance for the findings of complete runs that have no stored summary yet")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	tol, err := decimal.NewFromString(*tolerance)
	if err != nil || tol.IsNegative() {
		return usagef("--tolerance %q: want a non-negative decimal", *tolerance)
	}
	// Writable when possible: the summaries of complete runs that have none
	// are computed once and stored; a read-only ledger computes them each time.
	store, err := openExisting(ctx, *db, false)
	if err != nil {
		var rerr error
		if store, rerr = openExisting(ctx, *db, true); rerr != nil {
			return rerr
		}
	}
	warnLedgerMode(stderr, *db)
	defer store.Close() //nolint:errcheck // summaries are committed one by one
	runs, err := store.Runs(ctx)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	sums, err := job.FillSummaries(ctx, store, runs, report.Options{Tolerance: tol})
	if err != nil {
		return fmt.Errorf("summarise runs: %w", err)
	}
	if *asJSON {
		out := make([]runsJSON, 0, len(runs))
		for _, r := range runs {
			j := runsJSON{ID: r.ID, Status: string(r.Status), PeriodFrom: string(r.Period.From), PeriodTo: string(r.Period.To),
				RequestedDate: string(r.RequestedDate), StartedAt: fmtTime(r.StartedAt), FinishedAt: fmtTime(r.FinishedAt),
				Calls: r.Calls, Retries: r.Retries, ToolVersion: r.ToolVersion, Error: r.Error, Totals: []ledger.SummaryTotal{}}
			if s, ok := sums[r.ID]; ok {
				n := s.Findings
				j.Findings, j.Tolerance = &n, s.Tolerance
				if s.Totals != nil {
					j.Totals = s.Totals
				}
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tPERIOD\tREQUESTED\tSTARTED\tFINISHED\tCALLS\tRETRIES\tVERSION\tFINDINGS\tPAYABLE\tRECEIVABLE\tMARGIN")
	var errs []ledger.Run
	for _, r := range runs {
		period := ""
		if r.Period.From != "" {
			period = r.Period.String()
		}
		findings, pay, rec, margin := "-", "-", "-", "-"
		if s, ok := sums[r.ID]; ok {
			findings = fmt.Sprint(s.Findings)
			pay, rec, margin = totalsText(s.Totals)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, period, r.RequestedDate,
			fmtTime(r.StartedAt), fmtTime(r.FinishedAt), r.Calls, r.Retries, r.ToolVersion, findings, pay, rec, margin)
		if r.Error != "" {
			errs = append(errs, r)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The whole error of each run, below the table (it does not fit a column).
	if len(errs) > 0 {
		fmt.Fprintln(stdout, "\nERRORS")
		for _, r := range errs {
			fmt.Fprintf(stdout, "run %d: %s\n", r.ID, r.Error)
		}
	}
	return nil
}

// totalsText renders per-currency totals as "1234.50 CAD; 10.00 USD".
func totalsText(ts []ledger.SummaryTotal) (pay, rec, margin string) {
	if len(ts) == 0 {
		return "0", "0", "0"
	}
	var p, r, m []string
	for _, t := range ts {
		p = append(p, t.Payable+" "+t.Currency)
		r = append(r, t.Receivable+" "+t.Currency)
		m = append(m, t.Margin+" "+t.Currency)
	}
	return strings.Join(p, "; "), strings.Join(r, "; "), strings.Join(m, "; ")
}

// runPrune deletes old runs by the policy of job.PlanPrune: a dry run unless
// --yes.
func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs prune", "reconcile runs prune [--db FILE] [--keep N] [--period YYYY-MM] [--yes]", stderr)
	db := fs.String("db", dbDefault(), "ledger database `FILE` ($RECONCILE_DB)")
	keep := fs.Int("keep", 1, "complete runs to keep per period, the latest `N`")
	period := fs.String("period", "", "prune only this period (`YYYY-MM`); default every period")
	stale := fs.Duration("stale", 24*time.Hour, "a run still 'running' after this long was killed and is pruned")
	yes := fs.Bool("yes", false, "delete (default: only print what would be deleted)")
	apply := fs.Bool("apply", false, "same as --yes")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	if err := checkNumbers(intCheck("keep", *keep, false, "1 or more complete runs per period"),
		durCheck("stale", *stale, false, "a positive duration such as 24h")); err != nil {
		return err
	}
	var only string
	if *period != "" {
		pf := periodFlags{period: *period}
		d, err := pf.resolve()
		if err != nil {
			return err
		}
		only = string(d)[:7]
	}
	store, err := openExisting(ctx, *db, false)
	if err != nil {
		return err
	}
	warnLedgerMode(stderr, *db)
	defer store.Close() //nolint:errcheck // the deletion is one committed transaction
	runs, err := store.Runs(ctx)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	refs, err := store.ReferencedRuns(ctx)
	if err != nil {
		return err
	}
	plan := job.PlanPrune(runs, refs, job.PrunePolicy{Keep: *keep, Period: only, Stale: *stale, Now: time.Now()})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tPERIOD\tACTION\tWHY")
	var del []int64
	for _, d := range plan {
		action := "keep"
		if d.Delete {
			action = "delete"
			del = append(del, d.Run.ID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", d.Run.ID, d.Run.Status, job.PeriodKey(d.Run), action, d.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	before, err := store.Size(ctx)
	if err != nil {
		return err
	}
	if !*yes && !*apply {
		fmt.Fprintf(stdout, "\ndry run: %d of %d runs would be deleted (ledger %s now); run again with --yes to delete them\n", len(del), len(runs), humanBytes(before))
		return nil
	}
	if len(del) == 0 {
		fmt.Fprintf(stdout, "\nnothing to delete (ledger %s)\n", humanBytes(before))
		return nil
	}
	if err := store.DeleteRuns(ctx, del); err != nil {
		return err
	}
	if err := store.Vacuum(ctx); err != nil {
		return err
	}
	after, err := store.Size(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndeleted %d runs; ledger %s before, %s after\n", len(del), humanBytes(before), humanBytes(after))
	return nil
}
