package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/config"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// applyConfig is the hook between flag parsing and the commands: it reads the
// configuration file (--config, else $RECONCILE_CONFIG, else ./reconcile.toml)
// and resolves every setting by flag > environment > file > default. Flags of
// fs the user did not give are set to the value from the environment or the
// file, so the commands read their flags as before.
func applyConfig(fs *flag.FlagSet, stderr io.Writer) (*config.Effective, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	flags := map[string]string{}
	for _, k := range config.Keys {
		if k.Flag != "" && given[k.Flag] {
			flags[k.Name] = fs.Lookup(k.Flag).Value.String()
		}
	}
	var flagPath string
	if f := fs.Lookup("config"); f != nil {
		flagPath = f.Value.String()
	}
	var file *config.File
	if path := config.Locate(flagPath, os.Getenv); path != "" {
		var err error
		if file, err = config.Load(path); err != nil {
			return nil, &usageError{msg: err.Error()}
		}
	}
	eff, err := config.Resolve(file, os.Getenv, flags)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	for _, w := range eff.Warnings {
		fmt.Fprintf(stderr, "reconcile: warning: %s\n", w)
	}
	for _, s := range eff.Settings {
		k, _ := config.KeyByName(s.Key)
		if k.Flag == "" || s.Origin == config.OriginFlag || s.Origin == config.OriginDefault || fs.Lookup(k.Flag) == nil {
			continue
		}
		if err := fs.Set(k.Flag, s.Value); err != nil {
			return nil, usagef("%s = %q (from %s): %v", s.Key, s.Value, s.Source, err)
		}
	}
	return eff, nil
}

// registerConfigFlag adds --config to a command's flags.
func registerConfigFlag(fs *flag.FlagSet) {
	fs.String("config", "", "configuration `FILE` (TOML; default $RECONCILE_CONFIG, else ./reconcile.toml if present)")
}

// parseConfigured is the opening of most commands: it adds --config to fs,
// parses args (no positional arguments) and applies the configuration.
func parseConfigured(fs *flag.FlagSet, args []string, stderr io.Writer) (*config.Effective, error) {
	registerConfigFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return applyConfig(fs, stderr)
}

// apiConfigFrom is the Sherweb connection configuration of the effective
// configuration; credentials missing is a usage error naming what to set.
func apiConfigFrom(eff *config.Effective) (apiConfig, error) {
	c := apiConfig{
		BaseURL:         eff.Get("base_url"),
		ClientID:        eff.Get("client_id"),
		ClientSecret:    eff.Get("client_secret"),
		SubscriptionKey: eff.Get("subscription_key"),
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
		return c, usagef("missing configuration: set %s in the environment (or client_id and client_secret_file / subscription_key_file in the configuration file)", strings.Join(missing, ", "))
	}
	return c, nil
}

// withRules adds the configuration's customer mapping and internal-use
// entries (attribution rule 0) to the report options.
func withRules(opts report.Options, eff *config.Effective) report.Options {
	for _, m := range eff.Mapping {
		opts.Mapping = append(opts.Mapping, report.MapEntry{Tag: m.Tag, Value: m.Value, CustomerID: m.CustomerID, Line: m.Line})
	}
	for _, in := range eff.Internal {
		opts.Internal = append(opts.Internal, report.MapEntry{Tag: in.Tag, Value: in.Value, Line: in.Line})
	}
	return opts
}
