package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/msp-reconcile/reconcile/internal/amend"
	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

const amendUsage = `USAGE
  reconcile amend plan   (--period YYYY-MM | --date YYYY-MM-DD) [--customer ID]... [--out plan.json] [--format json|csv] [--db PATH]
  reconcile amend apply  PLAN.json [--yes] [--dry-run] [--db PATH]
  reconcile amend status [--db PATH]
  reconcile amend log    [--period YYYY-MM] [--json] [--db PATH]

plan   proposes, from the period's latest run, to bring each subscription paid
       for but not billed down to the billed quantity (never below the
       committed minimum in force today). Nothing is sent.
apply  re-reads the subscriptions, refuses stale entries and entries below
       the committed minimum, asks for confirmation (--yes for scripts), then
       sends one amendment per customer and tracks it to its end. Every step
       is recorded in the ledger's append-only amendments log; an entry is
       never sent twice. --dry-run shows the requests and sends nothing.
status resumes tracking of pending amendments and re-checks unknown ones.
log    lists the amendments log.
`

func runAmend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, amendUsage)
		return usagef("amend: give plan, apply, status or log")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, amendUsage)
		return errHelp
	case "plan":
		return runAmendPlan(ctx, args[1:], stdout, stderr)
	case "apply":
		return runAmendApply(ctx, args[1:], stdout, stderr)
	case "status":
		return runAmendStatus(ctx, args[1:], stdout, stderr)
	case "log":
		return runAmendLog(ctx, args[1:], stdout, stderr)
	}
	return usagef("amend: unknown subcommand %q (plan, apply, status or log)", args[0])
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func today() billing.Date { return billing.Date(time.Now().UTC().Format("2006-01-02")) }

func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v := os.Getenv("USER"); v != "" {
		return v
	}
	return "unknown"
}

func runAmendPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("amend plan", "reconcile amend plan (--period YYYY-MM | --date YYYY-MM-DD) [--customer ID]... [--out FILE] [--format json|csv]", stderr)
	var p periodFlags
	p.register(fs)
	var only multiFlag
	fs.Var(&only, "customer", "only this customer `ID` (repeatable)")
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	out := fs.String("out", "-", "write the plan to `FILE` (- for stdout)")
	format := fs.String("format", "json", "plan format: json (for apply) or csv (for review)")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	date, err := p.resolve()
	if err != nil {
		return err
	}
	if date == "" {
		return usagef("amend plan: --period or --date is required")
	}
	if *format != "json" && *format != "csv" {
		return usagef("amend plan: --format %q: want json or csv", *format)
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // nothing written
	run, err := store.FindRun(ctx, date)
	if errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("no complete or partial run for a period containing %s in %s: run 'reconcile fetch' first", date, *db)
	}
	if err != nil {
		return err
	}
	plan, err := job.AmendPlan(ctx, store, run, today(), only)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error { return writePlanJSON(w, &plan) }
	if *format == "csv" {
		write = func(w io.Writer) error { return writePlanCSV(w, &plan) }
	}
	if err := writeJSON(*out, stdout, write); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "plan from run %d (%s): %d change(s), %d skipped; entries hash %s\n", run.ID, run.Period, len(plan.Entries), len(plan.Skipped), plan.Hash)
	return nil
}

func writePlanJSON(w io.Writer, p *amend.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

func writePlanCSV(w io.Writer, p *amend.Plan) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"customer_id", "subscription_id", "sku", "product", "current_quantity", "new_quantity", "reason", "guards"})
	for _, e := range p.Entries {
		_ = cw.Write([]string{e.CustomerID, e.SubscriptionID, e.SKU, e.Product, strconv.FormatInt(e.CurrentQuantity, 10),
			strconv.FormatInt(e.NewQuantity, 10), e.Reason, strings.Join(e.Guards, "; ")})
	}
	cw.Flush()
	return cw.Error()
}

// parseWithArg parses flags around one positional argument.
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", errHelp
		}
		return "", &usageError{msg: err.Error()}
	}
	if fs.NArg() == 0 {
		return "", usagef("%s: the plan file is required", fs.Name())
	}
	arg := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return "", err
	}
	return arg, nil
}

type amendFlags struct {
	db           string
	pollInterval time.Duration
	pollDeadline time.Duration
	verbose      bool
}

func (f *amendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	fs.DurationVar(&f.pollInterval, "poll-interval", time.Second, "first wait between amendment status polls (doubles up to 8x)")
	fs.DurationVar(&f.pollDeadline, "poll-deadline", 2*time.Minute, "how long to track an amendment before leaving it pending (resume with 'amend status')")
	fs.BoolVar(&f.verbose, "v", false, "verbose structured logs on stderr")
	registerConfigFlag(fs)
}

// client is the Sherweb client of the effective configuration eff (the
// flags parsed and applyConfig applied).
func (f *amendFlags) client(ctx context.Context, eff *config.Effective, stderr io.Writer) (*fetch.Client, error) {
	api, err := apiConfigFrom(eff)
	if err != nil {
		return nil, err
	}
	ff := fetchFlags{maxAttempts: 6, maxWait: 60 * time.Second, timeout: 60 * time.Second}
	c, err := newClient(ctx, &ff, fetchEnv{api: api}, newLogger(stderr, f.verbose))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func runAmendApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("amend apply", "reconcile amend apply PLAN.json [--yes] [--dry-run] [--db PATH]", stderr)
	var f amendFlags
	f.register(fs)
	yes := fs.Bool("yes", false, "apply without asking (for scripts)")
	dry := fs.Bool("dry-run", false, "show the requests and send nothing")
	path, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	eff, err := applyConfig(fs, stderr)
	if err != nil {
		return err
	}
	interactive := isTerminal(os.Stdin) && isTerminal(stderr)
	if !*yes && !*dry && !interactive {
		return usagef("amend apply: not on a terminal: give --yes to apply without confirmation (or --dry-run)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("amend apply: %v", err)
	}
	var plan amend.Plan
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil {
		return usagef("amend apply: %s is not a plan: %v", path, err)
	}
	if err := plan.Validate(); err != nil {
		return usagef("amend apply: %s: %v", path, err)
	}
	if h := amend.Hash(plan.Entries); h != plan.Hash {
		fmt.Fprintf(stderr, "note: the plan was edited (entries hash %s, the file says %s); it is applied as a new plan\n", h, plan.Hash)
	}
	store, err := openWritable(ctx, f.db)
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // every event is committed as it happens
	client, err := f.client(ctx, eff, stderr)
	if err != nil {
		return err
	}
	opts := job.ApplyOptions{Ledger: store, Client: client, Plan: plan, Today: today(), Actor: actor(),
		DryRun: *dry, Out: stdout, PollInterval: f.pollInterval, PollDeadline: f.pollDeadline}
	opts.Confirm = func(entries []amend.Entry) (bool, error) {
		showEntries(stderr, entries)
		if *yes {
			return true, nil
		}
		fmt.Fprintf(stderr, "Send these %d change(s) to Sherweb? Type yes to confirm: ", len(entries))
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return false, nil
		}
		return strings.TrimSpace(strings.ToLower(line)) == "yes", nil
	}
	results, err := job.AmendApply(ctx, opts)
	printResults(stdout, results)
	if err != nil {
		return err
	}
	return attention(results)
}

func showEntries(w io.Writer, entries []amend.Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tSUBSCRIPTION\tSKU\tFROM\tTO")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", e.CustomerID, e.SubscriptionID, e.SKU, e.CurrentQuantity, e.NewQuantity)
	}
	_ = tw.Flush()
}

func printResults(w io.Writer, results []job.EntryResult) {
	if len(results) == 0 {
		fmt.Fprintln(w, "nothing to do")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tSUBSCRIPTION\tSKU\tFROM\tTO\tSTATE\tAMENDMENT\tDETAIL")
	for _, r := range results {
		e := r.Entry
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.CustomerID, e.SubscriptionID, e.SKU, e.CurrentQuantity, e.NewQuantity, r.State, r.AmendmentID, r.Detail)
	}
	_ = tw.Flush()
}

// errAttention: some entries need a person (unknown) or are still pending.
type errAttention struct{ unknown, pending int }

func (e *errAttention) Error() string {
	return fmt.Sprintf("%d amendment entr(ies) with an unknown outcome (check them in Sherweb) and %d still pending (run 'reconcile amend status')", e.unknown, e.pending)
}

func attention(results []job.EntryResult) error {
	var e errAttention
	for _, r := range results {
		switch r.State {
		case job.StateUnknown:
			e.unknown++
		case job.StatePending:
			e.pending++
		}
	}
	if e.unknown+e.pending > 0 {
		return &e
	}
	return nil
}

func runAmendStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("amend status", "reconcile amend status [--db PATH]", stderr)
	var f amendFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	eff, err := applyConfig(fs, stderr)
	if err != nil {
		return err
	}
	store, err := openWritable(ctx, f.db)
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // every event is committed as it happens
	client, err := f.client(ctx, eff, stderr)
	if err != nil {
		return err
	}
	results, err := job.AmendStatus(ctx, job.StatusOptions{Ledger: store, Client: client, Actor: actor(), Out: stdout,
		PollInterval: f.pollInterval, PollDeadline: f.pollDeadline})
	printResults(stdout, results)
	if err != nil {
		return err
	}
	return attention(results)
}

func runAmendLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("amend log", "reconcile amend log [--period YYYY-MM] [--json] [--db PATH]", stderr)
	var p periodFlags
	p.register(fs)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	asJSON := fs.Bool("json", false, "one JSON object per event")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	date, err := p.resolve()
	if err != nil {
		return err
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // nothing written
	from := ""
	if date != "" {
		from = string(date[:8]) + "01"
	}
	events, err := store.AmendmentLog(ctx, from)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range events {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tPLAN\tCUSTOMER\tSUBSCRIPTION\tFROM\tTO\tEVENT\tAMENDMENT\tSTATUS\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), e.Actor, e.PlanHash[:min(12, len(e.PlanHash))],
			e.CustomerID, e.SubscriptionID, e.CurrentQuantity, e.NewQuantity, e.Event, e.AmendmentID, e.Status, oneLine(e.Detail))
	}
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
