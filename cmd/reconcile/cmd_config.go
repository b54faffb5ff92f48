package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// runConfig prints the effective configuration and where each value came
// from; secrets are shown as (set) or (not set), never their value.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", "reconcile config [--config FILE]", stderr)
	eff, err := parseConfigured(fs, args, stderr)
	if err != nil {
		return err
	}
	file := eff.Path
	if file == "" {
		file = "(none)"
	}
	fmt.Fprintf(stdout, "configuration file: %s\n\n", file)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tORIGIN\tFROM")
	for _, s := range eff.Settings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Display(), s.Origin, s.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nmapping entries: %d, internal entries: %d\n", len(eff.Mapping), len(eff.Internal))
	for _, m := range eff.Mapping {
		fmt.Fprintf(stdout, "  mapping  line %d: %s = %q -> customer %s\n", m.Line, m.Tag, m.Value, m.CustomerID)
	}
	for _, in := range eff.Internal {
		fmt.Fprintf(stdout, "  internal line %d: %s = %q\n", in.Line, in.Tag, in.Value)
	}
	return nil
}
