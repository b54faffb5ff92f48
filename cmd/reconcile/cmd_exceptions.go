package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// parseInterspersed parses flags that may come before or after one
// positional argument (reconcile accept FP --reason X).
func parseInterspersed(fs *flag.FlagSet, args []string) (positional []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error()}
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runAccept(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("accept", "reconcile accept (FINGERPRINT --reason TEXT [--until YYYY-MM] [--band AMOUNT] | --file F.csv) [--by NAME] [--run ID] [--db PATH]", stderr)
	var r reportFlags
	r.register(fs)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	reason := fs.String("reason", "", "why the finding is accepted (required)")
	until := fs.String("until", "", "last billing period the acceptance covers, `YYYY-MM` (default: open-ended)")
	band := fs.String("band", "", "accepted while the amount stays within this `AMOUNT` of today's (default 0.01)")
	by := fs.String("by", "", "who accepts (default: the OS user)")
	file := fs.String("file", "", "accept many: CSV `FILE` with rows fingerprint,reason,until,band (all or nothing)")
	runID := fs.Int64("run", 0, "accept findings of this run `ID` (default: the latest complete or partial run)")
	registerConfigFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	eff, err := applyConfig(fs, stderr)
	if err != nil {
		return err
	}
	var rows []job.AcceptRow
	switch {
	case *file != "" && len(pos) > 0:
		return usagef("accept: give a FINGERPRINT or --file, not both")
	case *file != "":
		if rows, err = readAcceptFile(*file); err != nil {
			return err
		}
	case len(pos) == 1:
		row := job.AcceptRow{Fingerprint: pos[0], Reason: *reason, Until: *until}
		if *band != "" {
			b, err := decimal.NewFromString(*band)
			if err != nil || b.IsNegative() {
				return usagef("--band %q: want a non-negative decimal", *band)
			}
			row.Band, row.BandSet = b, true
		}
		if strings.TrimSpace(*reason) == "" {
			return usagef("accept: --reason is required")
		}
		rows = []job.AcceptRow{row}
	default:
		return usagef("accept: give one FINGERPRINT (see the Mismatches sheet) or --file")
	}
	opts, err := r.options(eff)
	if err != nil {
		return err
	}
	who := *by
	if who == "" {
		who = actor()
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // the register write is committed before
	ids, run, err := job.Accept(ctx, store, job.AcceptOptions{Rows: rows, By: who, RunID: *runID, Reconcile: opts})
	if err != nil {
		return err
	}
	for i, id := range ids {
		fmt.Fprintf(stdout, "accepted %s as entry %d (run %d, period %s)\n", rows[i].Fingerprint, id, run.ID, run.Period)
	}
	return nil
}

// readAcceptFile reads fingerprint,reason,until,band rows; a first row
// starting with "fingerprint" is a header. Any bad row fails the whole file.
func readAcceptFile(path string) ([]job.AcceptRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--file: %v", err)
	}
	defer f.Close() //nolint:errcheck // read only
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, usagef("--file %s: %v", path, err)
	}
	var rows []job.AcceptRow
	var problems []string
	for i, rec := range recs {
		if i == 0 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "fingerprint") {
			continue
		}
		if len(rec) < 2 || len(rec) > 4 {
			problems = append(problems, fmt.Sprintf("line %d: want fingerprint,reason,until,band", i+1))
			continue
		}
		for len(rec) < 4 {
			rec = append(rec, "")
		}
		row := job.AcceptRow{Fingerprint: strings.TrimSpace(rec[0]), Reason: strings.TrimSpace(rec[1]), Until: strings.TrimSpace(rec[2])}
		if b := strings.TrimSpace(rec[3]); b != "" {
			d, err := decimal.NewFromString(b)
			if err != nil || d.IsNegative() {
				problems = append(problems, fmt.Sprintf("line %d: band %q: want a non-negative decimal", i+1, b))
				continue
			}
			row.Band, row.BandSet = d, true
		}
		if row.Reason == "" {
			problems = append(problems, fmt.Sprintf("line %d: reason is empty", i+1))
			continue
		}
		rows = append(rows, row)
	}
	if len(problems) > 0 {
		return nil, usagef("--file %s: nothing recorded: %s", path, strings.Join(problems, "; "))
	}
	if len(rows) == 0 {
		return nil, usagef("--file %s: no rows", path)
	}
	return rows, nil
}

func runUnaccept(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("unaccept", "reconcile unaccept ID --reason TEXT [--by NAME] [--db PATH]", stderr)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	reason := fs.String("reason", "", "why the acceptance is revoked (required)")
	by := fs.String("by", "", "who revokes (default: the OS user)")
	registerConfigFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if _, err := applyConfig(fs, stderr); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("unaccept: give the register entry ID (see 'reconcile exceptions')")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef("unaccept: %q is not a register entry id", pos[0])
	}
	if strings.TrimSpace(*reason) == "" {
		return usagef("unaccept: --reason is required")
	}
	who := *by
	if who == "" {
		who = actor()
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // the register write is committed before
	rid, err := job.Unaccept(ctx, store, id, *reason, who, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked acceptance %d as entry %d\n", id, rid)
	return nil
}

func runExceptions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("exceptions", "reconcile exceptions [--all] [--db PATH]", stderr)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	all := fs.Bool("all", false, "list every register entry, revoked acceptances and revocations included")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // read-only
	entries, err := store.Exceptions(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACTION\tFINGERPRINT\tKIND\tCUSTOMER\tSKU\tAMOUNT\tBAND\tUNTIL\tRUN\tBY\tAT\tSTATE\tREASON")
	for _, e := range entries {
		if !*all && (e.Action != ledger.ActionAccept || e.RevokedBy != 0) {
			continue
		}
		state := "in force"
		amount, band, until, run := "", "", e.Until, ""
		switch {
		case e.Action == ledger.ActionRevoke:
			state = fmt.Sprintf("revokes %d", e.Revokes)
		case e.RevokedBy != 0:
			state = fmt.Sprintf("revoked by %d", e.RevokedBy)
		}
		if e.Action == ledger.ActionAccept {
			amount, band, run = billing.Text(e.Amount)+" "+e.Currency, billing.Text(e.Band), strconv.FormatInt(e.RunID, 10)
			if until == "" {
				until = "-"
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Action, e.Fingerprint, e.Kind,
			e.CustomerID, e.SKU, amount, band, until, run, e.By, fmtTime(e.CreatedAt), state, truncate(e.Reason, 60))
	}
	return tw.Flush()
}
