package ledger

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/msp-reconcile/reconcile/queries"
)

var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// migrations lists the embedded migration files in the order they apply.
func migrations(fsys fs.FS) ([]string, error) {
	files, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		name := path.Base(f)
		if !migrationName.MatchString(name) {
			return nil, fmt.Errorf("migration file %s: name must look like 0001_init.sql", f)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// migrate applies the migrations not yet recorded in schema_migrations, in
// lexical order, each in its own transaction. It refuses a ledger that has
// migrations this version does not know (written by a newer version).
func (s *Store) migrate(ctx context.Context) error {
	names, err := migrations(queries.FS)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer s.unlockWrite()
	if _, err := s.db.ExecContext(ctx, s.q[qCreateSchemaMigrations]); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	if err := s.checkUnknownMigrations(ctx, names); err != nil {
		return err
	}
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) migrateFile(ctx context.Context, name string) error {
	script, err := fs.ReadFile(queries.FS, "migrations/"+name)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	// Checked inside the (immediate) transaction: another process migrating
	// the same file at the same time cannot apply it twice.
	applied, err := s.appliedMigrations(ctx, tx)
	if err != nil {
		return err
	}
	if applied[name] {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(script)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q[qRecordMigration], name, formatTime(time.Now())); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Store) appliedMigrations(ctx context.Context, q sqlx.QueryerContext) (map[string]bool, error) {
	var names []string
	if err := sqlx.SelectContext(ctx, q, &names, s.q[qAppliedMigrations]); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[string]bool, len(names))
	for _, n := range names {
		applied[n] = true
	}
	return applied, nil
}

func (s *Store) checkUnknownMigrations(ctx context.Context, known []string) error {
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		return err
	}
	isKnown := make(map[string]bool, len(known))
	for _, n := range known {
		isKnown[n] = true
	}
	var unknown []string
	for n := range applied {
		if !isKnown[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("ledger has migration %s, unknown to this version of reconcile (written by a newer version?)", unknown[0])
	}
	return nil
}

// checkSchema verifies, for a read-only store, that the file is a ledger with
// exactly the migrations this version knows.
func (s *Store) checkSchema(ctx context.Context) error {
	names, err := migrations(queries.FS)
	if err != nil {
		return err
	}
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		return fmt.Errorf("not a reconcile ledger: %w", err)
	}
	for _, n := range names {
		if !applied[n] {
			return fmt.Errorf("ledger lacks migration %s: open it once for writing (reconcile fetch) to upgrade it", n)
		}
	}
	return s.checkUnknownMigrations(ctx, names)
}
