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

// migrations lists the embedded migration files of dialect d in the order
// they apply. migrations/*.sql (SQLite) is the list; another dialect must
// have a version of each, under the same name, in its folder.
func migrations(fsys fs.FS, d *dialect) ([]string, error) {
	names, err := migrationFiles(fsys, "migrations")
	if err != nil || d.migrations == "migrations" {
		return names, err
	}
	own, err := migrationFiles(fsys, d.migrations)
	if err != nil {
		return nil, err
	}
	has := make(map[string]bool, len(own))
	for _, n := range own {
		has[n] = true
	}
	for _, n := range names {
		if !has[n] {
			return nil, fmt.Errorf("migration %s has no %s version (queries/%s/%s): this build cannot hold a %s ledger", n, d.name, d.migrations, n, d.name)
		}
	}
	if len(own) != len(names) {
		return nil, fmt.Errorf("queries/%s has migrations that queries/migrations lacks", d.migrations)
	}
	return names, nil
}

func migrationFiles(fsys fs.FS, dir string) ([]string, error) {
	files, err := fs.Glob(fsys, dir+"/*.sql")
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
	names, err := migrations(queries.FS, s.d)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer s.unlockWrite()
	// Two processes opening a new PostgreSQL ledger at once: one migrates,
	// the other waits (SQLite: no-op; BEGIN IMMEDIATE serialises them).
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, s.q[qMigrationLock]); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), s.q[qMigrationUnlock]) //nolint:errcheck // the session ends with the connection anyway
	if _, err := conn.ExecContext(ctx, s.q[qCreateSchemaMigrations]); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	if err := s.checkUnknownMigrations(ctx, names); err != nil {
		return err
	}
	for _, name := range names {
		if err := s.migrateFile(ctx, conn, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if name == s.migrateThrough {
			break
		}
	}
	return nil
}

func (s *Store) migrateFile(ctx context.Context, conn *sqlx.Conn, name string) error {
	script, err := fs.ReadFile(queries.FS, s.d.migrations+"/"+name)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTxx(ctx, nil)
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
	names, err := migrations(queries.FS, s.d)
	if err != nil {
		return err
	}
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotLedger, err)
	}
	if len(applied) == 0 { // e.g. a first open for writing was interrupted before its first migration
		return fmt.Errorf("%w: no migration applied", ErrNotLedger)
	}
	for _, n := range names {
		if !applied[n] {
			return fmt.Errorf("ledger lacks migration %s: run `reconcile migrate` (or open it once for writing, e.g. reconcile fetch) to upgrade it", n)
		}
	}
	return s.checkUnknownMigrations(ctx, names)
}

// Migrate applies the migrations this version knows and the ledger lacks
// (`reconcile migrate`; Open for writing does the same), and returns the
// names it applied.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	if s.readOnly {
		return nil, fmt.Errorf("migrate: %w", ErrReadOnly)
	}
	before, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		before = map[string]bool{} // a new ledger: no schema_migrations yet
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	names, err := migrations(queries.FS, s.d)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, n := range names {
		if !before[n] {
			applied = append(applied, n)
		}
	}
	return applied, nil
}
