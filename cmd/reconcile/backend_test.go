package main

// The CLI tests run on both ledger backends (internal/dbtest): TestMain runs
// every test on SQLite, then again against a throwaway PostgreSQL server.
// A test takes its ledger from dbtest.DB(t): a SQLite file in t.TempDir(), or
// a fresh PostgreSQL database in that pass. Tests that open no ledger call
// dbtest.NoLedger; tests that are about the SQLite file itself call
// dbtest.SQLiteOnly with the reason. In the PostgreSQL pass, runCLI fails a
// test that hands the CLI a SQLite ledger without saying so (allowSQLite):
// the pass cannot silently test SQLite twice.

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// sqliteAllowed holds the names of the tests that use a SQLite ledger on
// purpose in the PostgreSQL pass (the source of a ledger copy).
var sqliteAllowed sync.Map

// allowSQLite lets the test hand the CLI a SQLite ledger in the PostgreSQL
// pass.
func allowSQLite(t *testing.T) {
	sqliteAllowed.Store(t.Name(), true)
	t.Cleanup(func() { sqliteAllowed.Delete(t.Name()) })
}

// checkBackend fails the test when, in the PostgreSQL pass, the command's
// ledger (--db, else RECONCILE_DB) is a SQLite one.
func checkBackend(t *testing.T, args []string) {
	t.Helper()
	if dbtest.Backend() != dbtest.Postgres {
		return
	}
	if _, ok := sqliteAllowed.Load(t.Name()); ok {
		return
	}
	var dbs []string
	for i, a := range args {
		switch {
		case (a == "--db" || a == "-db") && i+1 < len(args):
			dbs = append(dbs, args[i+1])
		case strings.HasPrefix(a, "--db="):
			dbs = append(dbs, strings.TrimPrefix(a, "--db="))
		}
	}
	if v := os.Getenv("RECONCILE_DB"); len(dbs) == 0 && v != "" {
		dbs = append(dbs, v)
	}
	for _, db := range dbs {
		if !ledger.IsPostgres(db) {
			t.Fatalf("PostgreSQL pass: the test gives the CLI the SQLite ledger %s: take it from dbtest.DB(t), or mark the test dbtest.SQLiteOnly with the reason", db)
		}
	}
}

// ledgerExists reports whether the command left a ledger at db: the SQLite
// file exists, or the PostgreSQL database (which dbtest created empty) has
// tables.
func ledgerExists(t *testing.T, db string) bool {
	t.Helper()
	if !ledger.IsPostgres(db) {
		_, err := os.Stat(db)
		return err == nil
	}
	var n int
	pgQuery(t, db, func(ctx context.Context, c *sql.DB) error {
		return c.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n)
	})
	return n > 0
}

// ledgerContains reports whether s occurs anywhere in the ledger: in the
// SQLite file's bytes (and its WAL), or in the text of any row of any table
// of the PostgreSQL database.
func ledgerContains(t *testing.T, db, s string) bool {
	t.Helper()
	if !ledger.IsPostgres(db) {
		for _, p := range []string{db, db + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if strings.Contains(string(b), s) {
				return true
			}
		}
		return false
	}
	found := false
	pgQuery(t, db, func(ctx context.Context, c *sql.DB) error {
		rows, err := c.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
		if err != nil {
			return err
		}
		var tables []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			tables = append(tables, name)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(tables) == 0 {
			return errors.New("the database has no tables")
		}
		for _, tbl := range tables {
			var n int
			q := `SELECT count(*) FROM "` + tbl + `" AS r WHERE strpos(r::text, $1) > 0`
			if err := c.QueryRowContext(ctx, q, s).Scan(&n); err != nil {
				return err
			}
			found = found || n > 0
		}
		return nil
	})
	return found
}

// pgQuery runs fn on a database/sql connection to the PostgreSQL ledger.
func pgQuery(t *testing.T, db string, fn func(context.Context, *sql.DB) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := fn(ctx, c); err != nil {
		t.Fatalf("query %s: %v", ledger.Redact(db), err)
	}
}
