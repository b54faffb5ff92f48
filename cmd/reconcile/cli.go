package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
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
  amend    plan, apply, track and list subscription quantity amendments
           (the only command that ever writes to Sherweb: amend apply)
  demo     run the close against the built-in simulator (no credentials needed)
  sim      serve the built-in Sherweb simulator over HTTP
  version  print the version

Run 'reconcile <command> -h' for the flags of a command.

ENVIRONMENT
  SHERWEB_BASE_URL          API gateway (default https://api.sherweb.com)
  SHERWEB_CLIENT_ID         OAuth2 client id (Cumulus: Security > APIs)
  SHERWEB_CLIENT_SECRET     OAuth2 client secret (secret)
  SHERWEB_SUBSCRIPTION_KEY  API subscription key (secret)
  RECONCILE_DB              ledger database path (default ./reconcile.db)

`

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise. The close streams everything, so most of its heap is short-lived
// garbage; without a limit the collector lets it grow well past the live data
// (369 MiB peak RSS on the 1M-line reference run, 246 MiB with it; see
// BENCHMARKS.md). It is a soft limit: a larger live heap still works.
const defaultMemoryLimit = 160 << 20

// run is the whole program behind main: it parses args and runs a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
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
	case "amend":
		return runAmend(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "sim":
		return runSim(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "reconcile %s\n", toolVersion())
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

// newFlagSet makes a flag set whose usage text ends with the exit codes.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "USAGE\n  %s\n\nFLAGS\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitTable)
	}
	return fs
}

// parseFlags parses args, turning -h into errHelp and bad flags into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
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

// resolve returns the date to ask the API for.
func (p *periodFlags) resolve() (billing.Date, error) {
	switch {
	case p.period != "" && p.date != "":
		return "", usagef("give --period or --date, not both")
	case p.period != "":
		t, err := time.Parse("2006-01", p.period)
		if err != nil {
			return "", usagef("--period %q: want YYYY-MM", p.period)
		}
		return billing.Date(t.Format("2006-01-02")), nil
	case p.date != "":
		t, err := time.Parse("2006-01-02", p.date)
		if err != nil {
			return "", usagef("--date %q: want YYYY-MM-DD", p.date)
		}
		return billing.Date(t.Format("2006-01-02")), nil
	}
	return "", nil
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

func apiConfigFromEnv(stderr io.Writer) (apiConfig, error) {
	c := apiConfig{
		BaseURL:  strings.TrimRight(os.Getenv("SHERWEB_BASE_URL"), "/"),
		ClientID: os.Getenv("SHERWEB_CLIENT_ID"),
	}
	var err error
	if c.ClientSecret, err = secretFromEnv("SHERWEB_CLIENT_SECRET", stderr); err != nil {
		return c, err
	}
	if c.SubscriptionKey, err = secretFromEnv("SHERWEB_SUBSCRIPTION_KEY", stderr); err != nil {
		return c, err
	}
	if c.BaseURL == "" {
		c.BaseURL = "https://api.sherweb.com"
	}
	var missing []string
	for _, kv := range [][2]string{
		{"SHERWEB_CLIENT_ID", c.ClientID},
		{"SHERWEB_CLIENT_SECRET", c.ClientSecret},
		{"SHERWEB_SUBSCRIPTION_KEY", c.SubscriptionKey},
	} {
		if strings.TrimSpace(kv[1]) == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return c, usagef("missing configuration: set %s in the environment", strings.Join(missing, ", "))
	}
	return c, nil
}

// secretFromEnv reads a secret from $NAME, or from the file named by
// $NAME_FILE (for secret managers and systemd credentials). A file that group
// or others may read gets a warning: the secret is as safe as its file.
func secretFromEnv(name string, stderr io.Writer) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", usagef("%s_FILE: %v", name, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "reconcile: warning: %s (from %s_FILE) is readable by others (mode %04o); run chmod 600 on it\n", path, name, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("%s_FILE: %v", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
