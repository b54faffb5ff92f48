package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

const mainUsage = `reconcile — reconcile Sherweb payable charges against receivable charges

USAGE
  reconcile <command> [flags]

COMMANDS
  run      the monthly close: fetch a period, reconcile it, write workbook and JSON
  fetch    fetch a billing period into the ledger (a new immutable run)
  report   reconcile a stored run again, from the ledger only (no network)
  runs     list the fetch runs in the ledger
  compare  compare two stored runs: the margin bridge, movements, restatements
  trend    totals and customer margins month by month, from the ledger
  email    mail a period's report (workbook attached, summary in the message)
  amend    plan, apply, track and list subscription quantity amendments
           (the only command that ever writes to Sherweb: amend apply)
  migrate  apply the ledger's schema migrations (SQLite file or PostgreSQL)
  ledger   ledger copy --from A --to B: move a ledger between SQLite and PostgreSQL
  demo     run the close against the built-in simulator (no credentials needed)
  sim      serve the built-in Sherweb simulator over HTTP
  config   print the effective configuration and where each value came from
  doctor   check the set-up (config, credentials, API, clock, ledger, output) without changing anything
  accept   accept a finding (by fingerprint) in the exceptions register; --file for many
  unaccept revoke an acceptance (the register is append-only)
  exceptions  list the exceptions register
  version  print the version

Run 'reconcile <command> -h' for the flags of a command.

ENVIRONMENT
  SHERWEB_BASE_URL          API gateway (default https://api.sherweb.com)
  SHERWEB_CLIENT_ID         OAuth2 client id (Cumulus: Security > APIs)
  SHERWEB_CLIENT_SECRET     OAuth2 client secret (secret)
  SHERWEB_SUBSCRIPTION_KEY  API subscription key (secret)
  RECONCILE_DB              ledger: a SQLite file path (or sqlite:PATH), or a
                            postgres:// URL (default ./reconcile.db)
` + emailEnvHelp + `
  RECONCILE_CONFIG          configuration file (default ./reconcile.toml if present)

`

// defaultMemoryLimit is the Go runtime's soft limit unless GOMEMLIMIT says
// otherwise. The close streams everything, so most of its heap is short-lived
// garbage; without a limit the collector lets it grow well past the live data
// (369 MiB peak RSS on the 1M-line reference run, 246 MiB with a 160 MiB
// limit). 132 MiB leaves the W1M close's live heap (≈ 85 MiB in the fan-out,
// by the collector's count) and the runtime's own 13–19 MiB about 25–30 MiB
// to grow in; with SQLite's 4 MiB (≈ 5 MiB of malloc arenas) and the
// process itself (binary, libc: 19–23 MiB) that is the 160 MiB budget
// (BENCHMARKS.md, "Peak RSS round three").
// It is a soft limit, and it follows a larger live heap (memlimit.go).
const defaultMemoryLimit = 132 << 20

// run is the whole program behind main: it parses args and runs a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		setDefaultMemoryLimit(defaultMemoryLimit)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage+exitTable)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, mainUsage+exitTable)
		return errHelp
	case "run":
		return runClose(ctx, rest, stdout, stderr)
	case "fetch":
		return runFetch(ctx, rest, stdout, stderr)
	case "report":
		return runReport(ctx, rest, stdout, stderr)
	case "runs":
		return runRuns(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "trend":
		return runTrend(ctx, rest, stdout, stderr)
	case "email":
		return runEmail(ctx, rest, stdout, stderr)
	case "amend":
		return runAmend(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "ledger":
		return runLedger(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "sim":
		return runSim(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, stdout, stderr)
	case "accept":
		return runAccept(ctx, rest, stdout, stderr)
	case "unaccept":
		return runUnaccept(ctx, rest, stdout, stderr)
	case "exceptions":
		return runExceptions(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "reconcile %s\n", toolVersion())
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

// newFlagSet makes a flag set for a subcommand. Its -h text is the synopsis
// and the flags (the exit codes are on the main help only). The flag package
// itself prints nothing: a bad flag becomes one usage error (see parseFlags).
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every error; parseFlags prints help
	helpMu.Lock()
	helpFor[fs] = func() {
		fmt.Fprintf(stderr, "USAGE\n  %s\n\nFLAGS\n", synopsis)
		printFlags(stderr, fs)
		fmt.Fprint(stderr, "\nRun 'reconcile -h' for the commands, the environment and the exit codes.\n")
	}
	helpMu.Unlock()
	return fs
}

// helpFor holds each flag set's -h text printer.
var (
	helpMu  sync.Mutex
	helpFor = map[*flag.FlagSet]func(){}
)

// printFlags lists the flags as they are typed: "--db FILE", then the usage
// and default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name
		}
		if name != "" {
			line += " " + name
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

// parseFlags parses args, turning -h into errHelp (after printing the
// usage) and bad flags into usage errors naming the command.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			helpMu.Lock()
			help := helpFor[fs]
			helpMu.Unlock()
			if help != nil {
				help()
			}
			return errHelp
		}
		return &usageError{msg: err.Error(), cmd: fs.Name()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)), cmd: fs.Name()}
	}
	return nil
}

// periodFlags selects a billing period by --period or --date.
type periodFlags struct {
	period string
	date   string
}

func (p *periodFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.period, "period", "", "billing period as `YYYY-MM` (shorthand for --date YYYY-MM-01)")
	fs.StringVar(&p.date, "date", "", "any `date` (YYYY-MM-DD) inside the billing period")
}

// resolveOrRun is resolve for the commands that take a period or a run:
// exactly one of --period, --date and --run (runID) must be given.
func (p *periodFlags) resolveOrRun(cmd, runID string) (billing.Date, error) {
	date, err := p.resolve()
	if err != nil {
		return "", err
	}
	if (date == "") == (runID == "") {
		return "", usagef("%s: give exactly one of --period, --date or --run", cmd)
	}
	return date, nil
}

// resolve returns the date to ask the API for.
func (p *periodFlags) resolve() (billing.Date, error) {
	switch {
	case p.period != "" && p.date != "":
		return "", usagef("give --period or --date, not both")
	case p.period != "":
		if !periodShape.MatchString(p.period) {
			return "", usagef("--period %q: want YYYY-MM", p.period)
		}
		t, err := time.Parse("2006-01", p.period)
		if err != nil {
			return "", usagef("--period %q: month %s does not exist", p.period, p.period[5:])
		}
		return billing.Date(t.Format("2006-01-02")), nil
	case p.date != "":
		if !dateShape.MatchString(p.date) {
			return "", usagef("--date %q: want YYYY-MM-DD", p.date)
		}
		t, err := time.Parse("2006-01-02", p.date)
		if err != nil {
			return "", usagef("--date %q: %s", p.date, dateProblem(p.date))
		}
		return billing.Date(t.Format("2006-01-02")), nil
	}
	return "", nil
}

var (
	periodShape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)
	dateShape   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// dateProblem says why a YYYY-MM-DD date that does not parse does not exist.
func dateProblem(d string) string {
	month, err := time.Parse("2006-01", d[:7])
	if err != nil {
		return fmt.Sprintf("month %s does not exist", d[5:7])
	}
	days := month.AddDate(0, 1, -1).Day()
	return fmt.Sprintf("day %s does not exist: %s has %d days", d[8:], month.Format("January 2006"), days)
}

// warnFuturePeriod warns when the period of date has not been invoiced yet:
// the current month, or a later one. Its charges are not final (or not
// there at all).
func warnFuturePeriod(date billing.Date, now time.Time, stderr io.Writer) {
	t, err := time.Parse("2006-01-02", string(date))
	if err != nil {
		return
	}
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	p := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	switch {
	case p.After(cur):
		fmt.Fprintf(stderr, "reconcile: warning: %s is in the future: Sherweb has not invoiced it, its charges are not there yet\n", p.Format("2006-01"))
	case p.Equal(cur):
		fmt.Fprintf(stderr, "reconcile: warning: %s is the current month: it is not invoiced yet, its charges can still change (close it after the invoice, early next month)\n", p.Format("2006-01"))
	}
}

// numCheck is one numeric flag's check: its value must be > 0, or >= 0
// when zeroOK.
type numCheck struct {
	flag   string
	value  float64
	shown  string // the value as typed back to the user
	zeroOK bool
	what   string // what is wanted, for the message
}

func intCheck(flag string, v int, zeroOK bool, what string) numCheck {
	return numCheck{flag: flag, value: float64(v), shown: strconv.Itoa(v), zeroOK: zeroOK, what: what}
}

func durCheck(flag string, v time.Duration, zeroOK bool, what string) numCheck {
	return numCheck{flag: flag, value: float64(v), shown: v.String(), zeroOK: zeroOK, what: what}
}

func floatCheck(flag string, v float64, zeroOK bool, what string) numCheck {
	return numCheck{flag: flag, value: v, shown: strconv.FormatFloat(v, 'g', -1, 64), zeroOK: zeroOK, what: what}
}

// checkNumbers rejects the first value out of range (exit 2), before
// anything is recorded.
func checkNumbers(checks ...numCheck) error {
	for _, c := range checks {
		if c.value != c.value || c.value < 0 || (c.value == 0 && !c.zeroOK) { // NaN too
			return usagef("--%s %s: want %s", c.flag, c.shown, c.what)
		}
	}
	return nil
}

func dbDefault() string {
	if v := os.Getenv("RECONCILE_DB"); v != "" {
		return v
	}
	return "reconcile.db"
}

func newLogger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// apiConfig is the Sherweb connection configuration, from the environment.
type apiConfig struct {
	BaseURL         string
	ClientID        string
	ClientSecret    string
	SubscriptionKey string
}
