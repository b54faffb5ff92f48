package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/mail"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
)

// emailEnvHelp documents the mail settings in the environment and the config
// file (main usage and README).
const emailEnvHelp = `  RECONCILE_SMTP_HOST       SMTP server for 'email' and 'run --email'
  RECONCILE_SMTP_PORT       SMTP port (default 587 for starttls, 465 for tls, 25 for none)
  RECONCILE_SMTP_TLS        starttls (default, must succeed) | tls | none (loopback hosts only)
  RECONCILE_SMTP_USER       SMTP user (no authentication when unset)
  RECONCILE_SMTP_PASSWORD   SMTP password (secret; or RECONCILE_SMTP_PASSWORD_FILE)
  RECONCILE_MAIL_FROM       sender address
  RECONCILE_MAIL_TO         recipients, comma-separated (--to replaces them)
  RECONCILE_MAIL_CC, RECONCILE_MAIL_BCC  more recipients, comma-separated
  RECONCILE_MAIL_SUBJECT    subject template (default "` + mail.DefaultSubject + `")
  RECONCILE_MAIL_MAX_BYTES  message size limit (default 20971520): over it the
                            workbook goes without its detail sheets
  RECONCILE_SMTP_RETRIES    attempts for transient failures (default 4)
  RECONCILE_SMTP_RETRY_DELAY first backoff (default 1s, doubling, at most 30s)
                            Each can also be set in the config file's [email] table
                            (host, port, tls, user, password_file, from, to, cc, bcc,
                            subject, max_bytes, retries, retry_delay); the environment wins.
`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, mail.SplitAddresses(v)...)
	return nil
}

// mailSettingsOf reads the mail settings from the effective configuration:
// each from the environment (RECONCILE_SMTP_*, RECONCILE_MAIL_*), else from
// the config file's [email] table, else its default. A bad number names the
// key and where its value came from.
func mailSettingsOf(eff *config.Effective) (mail.Settings, error) {
	s := mail.Settings{
		Host:     strings.TrimSpace(eff.Get("email.host")),
		TLS:      eff.Get("email.tls"),
		User:     eff.Get("email.user"),
		Password: eff.Get("email.password"),
		From:     strings.TrimSpace(eff.Get("email.from")),
		To:       mail.SplitAddresses(eff.Get("email.to")),
		Cc:       mail.SplitAddresses(eff.Get("email.cc")),
		Bcc:      mail.SplitAddresses(eff.Get("email.bcc")),
		Subject:  eff.Get("email.subject"),
	}
	bad := func(key, want string) error {
		st, _ := eff.Setting(key)
		k, _ := config.KeyByName(key)
		return usagef("%s %q (%s from %s): want %s", k.Env, st.Value, key, st.Origin+originSource(st), want)
	}
	for _, n := range []struct {
		key string
		dst *int
	}{{"email.port", &s.Port}, {"email.retries", &s.Retry.Attempts}} {
		if v := strings.TrimSpace(eff.Get(n.key)); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return s, bad(n.key, "a non-negative integer")
			}
			*n.dst = i
		}
	}
	if v := strings.TrimSpace(eff.Get("email.max_bytes")); v != "" {
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil || i <= 0 {
			return s, bad("email.max_bytes", "a positive number of bytes")
		}
		s.MaxBytes = i
	}
	if v := strings.TrimSpace(eff.Get("email.retry_delay")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, bad("email.retry_delay", "a duration like 2s")
		}
		s.Retry.Base = d
	}
	return s, nil
}

// originSource is " <source>" of a setting, or "".
func originSource(s config.Setting) string {
	if s.Source == "" {
		return ""
	}
	return " " + s.Source
}

// mailConfigError turns a mail.ErrConfig into a usage error (exit 2).
func mailConfigError(err error) error {
	if errors.Is(err, mail.ErrConfig) {
		return usagef("%v", err)
	}
	return err
}

func runEmail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("email", "reconcile email (--period YYYY-MM | --date YYYY-MM-DD | --run ID) [--db PATH] [--out FILE.xlsx] [--to ADDR]… [--compare-base YYYY-MM] [--resend] [--dry-run FILE.eml]", stderr)
	var p periodFlags
	p.register(fs)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	runID := fs.String("run", "", "mail the report of this fetch run `ID` instead of the latest complete one")
	out := fs.String("out", "", "the report's workbook `FILE.xlsx` (default reconciliation-<from>_<to>.xlsx); written first if it does not exist")
	var rules ruleFlags
	rules.register(fs)
	detail := fs.String("detail", "xlsx", "where the workbook's detail is: `xlsx` (sheets) or csv, as for 'report'")
	var to stringList
	fs.Var(&to, "to", "recipient `ADDR` (repeatable; replaces $RECONCILE_MAIL_TO)")
	resend := fs.Bool("resend", false, "send even if this run's report was already delivered")
	dryRun := fs.String("dry-run", "", "write the exact message to `FILE.eml` instead of sending it")
	compareBase := fs.String("compare-base", "", "attach the comparison with base period `YYYY-MM` (written beside the workbook) and include the margin bridge")
	verbose := fs.Bool("v", false, "verbose: log the SMTP attempts")
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	date, err := p.resolveOrRun("email", *runID)
	if err != nil {
		return err
	}
	if *compareBase != "" {
		if _, err := report.ParseMonth(*compareBase); err != nil || len(*compareBase) != 7 {
			return usagef("--compare-base %q: want YYYY-MM", *compareBase)
		}
	}
	r := reportFlags{ruleFlags: rules, out: *out, detail: *detail}
	opts, err := r.options(eff)
	if err != nil {
		return err
	}
	settings, err := mailSettingsOf(eff)
	if err != nil {
		return err
	}
	if len(to) > 0 {
		settings.To = to
	}
	if err := settings.Validate(*dryRun == ""); err != nil {
		return mailConfigError(err)
	}
	log := newLogger(stderr, *verbose)

	store, err := openWritable(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // deliveries are committed one by one; Close loses nothing
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
			return fmt.Errorf("no run %s in %s", *runID, *db)
		}
		return fmt.Errorf("no complete or partial run for a period containing %s in %s: run 'reconcile run' first", date, *db)
	}
	if err != nil {
		return fmt.Errorf("find run: %w", err)
	}
	rec, err := job.Reconcile(ctx, store, run, opts)
	if err != nil {
		return err
	}
	rec.Info = job.RunInfo(run, r.settings())
	path := *out
	if path == "" {
		path = job.DefaultWorkbookName(run)
	}
	// The report is durably on disk before any mail is attempted: an
	// existing workbook is attached as it is; a missing one is written first.
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := job.PrepareOutputs(path); err != nil {
			return err
		}
		if err := job.WriteOutputs(ctx, rec, job.Outputs{Workbook: path, Options: xlsx.WorkbookOptions{TmpDir: filepath.Dir(path), Detail: *detail}, Logger: log}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "run %d: workbook %s written\n", run.ID, path)
	} else if err != nil {
		return fmt.Errorf("workbook %s: %w", path, err)
	}
	do := job.DeliverOptions{
		Ledger: store, Rec: rec, Workbook: path, Detail: *detail, Settings: settings,
		Resend: *resend, DryRun: *dryRun, Logger: log, Messages: stderr,
	}
	if *compareBase != "" {
		// The comparison is written (atomically, default name) beside the
		// close workbook before the mail, like the workbook itself.
		if err := job.WithComparison(ctx, &do, job.CompareOptions{
			Ledger: store, Base: job.RunPick{Month: *compareBase}, Current: job.RunPick{ID: run.ID},
			Reconcile: opts, Dir: filepath.Dir(path), ToolVersion: toolVersion(),
			Messages: stderr, Logger: log,
		}); err != nil {
			return err
		}
	}
	return job.Deliver(ctx, do)
}

// emailAfterRun is `run --email`: the settings, checked before the run.
type emailAfterRun struct {
	settings mail.Settings
}

// deliverAfterClose mails the report a close wrote (closeErr is the close's
// outcome: nil, incomplete or findings). A mail failure joins it.
func deliverAfterClose(ctx context.Context, e *emailAfterRun, store job.DeliveryLedger, rs *job.RecordingSink, detail string, closeErr error, log *slog.Logger, stderr io.Writer) error {
	if rs.Rec == nil {
		return closeErr // nothing was written: nothing to mail
	}
	derr := job.Deliver(ctx, job.DeliverOptions{
		Ledger: store, Rec: rs.Rec, Workbook: rs.Path, Detail: detail, Settings: e.settings, Logger: log, Messages: stderr,
	})
	return errors.Join(derr, closeErr)
}
