package main

import (
	"context"
	"fmt"
	"io"

	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// runMigrate applies the ledger migrations this version knows (`reconcile
// migrate`). Every other command applies them too when it opens the ledger
// for writing; migrate does it explicitly, e.g. once per upgrade of a shared
// PostgreSQL ledger, by a user allowed to create tables.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "reconcile migrate [--db FILE|URL]", stderr)
	db := fs.String("db", dbDefault(), "ledger: a SQLite `FILE` (or sqlite:FILE), or a postgres:// URL ($RECONCILE_DB)")
	if _, err := parseConfigured(fs, args, stderr); err != nil {
		return err
	}
	store, err := ledger.Open(ctx, *db, ledger.Options{NoMigrate: true})
	if err != nil {
		return err
	}
	defer store.Close() //nolint:errcheck // each migration is committed on its own
	applied, err := store.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate ledger %s: %w", store.Path(), err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "ledger %s (%s) is up to date\n", store.Path(), store.Backend())
		return nil
	}
	for _, n := range applied {
		fmt.Fprintf(stdout, "applied %s\n", n)
	}
	fmt.Fprintf(stdout, "ledger %s (%s) is up to date\n", store.Path(), store.Backend())
	return nil
}

// runLedger dispatches `reconcile ledger SUBCOMMAND`.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return usagef("reconcile ledger: want a subcommand: copy")
	}
	return runLedgerCopy(ctx, args[1:], stdout, stderr)
}

// runLedgerCopy moves a ledger between backends: every run, verified by the
// digest of each.
func runLedgerCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ledger copy", "reconcile ledger copy --from FILE|URL --to FILE|URL", stderr)
	from := fs.String("from", "", "the ledger to copy: a SQLite `FILE` (sqlite:FILE) or a postgres:// URL")
	to := fs.String("to", "", "the new, empty ledger to copy into: a SQLite `FILE` or a postgres:// URL (the database must exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usagef("ledger copy: --from and --to are required")
	}
	src, err := openExisting(ctx, *from, true)
	if err != nil {
		return err
	}
	defer src.Close() //nolint:errcheck // read-only
	dst, err := openWritable(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close() //nolint:errcheck // the copy is one committed transaction
	rep, err := ledger.CopyLedger(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s (%s) to %s (%s): %d runs, %d payable lines, %d receivable lines; the digest of every run matches\n",
		src.Path(), src.Backend(), dst.Path(), dst.Backend(), rep.Runs, rep.Tables["payable_charges"], rep.Tables["receivable_charges"])
	return nil
}
