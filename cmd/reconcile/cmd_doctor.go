package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// errDoctor is returned when a doctor check failed (exit 1).
var errDoctor = errors.New("doctor: some checks failed")

// runDoctor checks the set-up without changing anything: one line per check,
// exit 0 only when all pass; --json for machines.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", "reconcile doctor [--config FILE] [--db PATH] [--json]", stderr)
	db := fs.String("db", dbDefault(), "ledger database `path` ($RECONCILE_DB)")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	registerConfigFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := job.DoctorOptions{}
	eff, err := applyConfig(fs, io.Discard)
	if err != nil {
		o.ConfigErr = err
		// The rest is checked with what the environment alone gives.
		if eff, err = config.Resolve(nil, os.Getenv, nil); err != nil {
			eff = &config.Effective{}
		}
	}
	o.ConfigPath = eff.Path
	o.BaseURL, o.ClientID = eff.Get("base_url"), eff.Get("client_id")
	o.ClientSecret, o.SubscriptionKey = eff.Get("client_secret"), eff.Get("subscription_key")
	o.DB, o.OutputDir = *db, eff.Get("output_dir")
	if ms, err := mailSettingsOf(eff); err == nil && ms.Host != "" {
		o.SMTPAddr, o.SMTPUser, o.SMTPPassword = net.JoinHostPort(ms.Host, strconv.Itoa(ms.EffectivePort())), ms.User, ms.Password
	}
	o.Mapping = withRules(report.Options{}, eff).Mapping
	checks := job.Doctor(ctx, o)
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK     bool        `json:"ok"`
			Checks []job.Check `json:"checks"`
		}{failed == 0, checks}); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "pass"
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(stdout, "%-4s  %-26s %s\n", mark, c.Name, c.Found)
			if !c.OK && c.Fix != "" {
				fmt.Fprintf(stdout, "      %-26s fix: %s\n", "", c.Fix)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w (%d of %d)", errDoctor, failed, len(checks))
	}
	return nil
}
