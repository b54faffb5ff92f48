// Package dbtest runs a package's tests against every ledger backend: one
// switch, not two copies of the tests.
//
// A package's TestMain calls Main, which runs the tests once on SQLite and,
// when PostgreSQL is available, once more on a throwaway PostgreSQL server it
// starts for the package (initdb + postgres in a temporary folder, listening on
// a unix socket only). Tests get their ledger from DB: a new SQLite file in
// t.TempDir(), or a fresh PostgreSQL database (created for the test and
// dropped after it). Tests that only make sense for one backend call
// SQLiteOnly or PostgresOnly.
//
// PostgreSQL is found through RECONCILE_TEST_PG (a postgres:// URL of a server
// whose user may CREATE DATABASE; nothing is started), else the initdb and
// postgres binaries (PATH, then /usr/lib/postgresql/*/bin). When neither is
// there the PostgreSQL pass is skipped, unless RECONCILE_REQUIRE_PG=1 or CI is
// set: then its absence fails the test binary. RECONCILE_TEST_BACKENDS=sqlite
// (or =postgres) runs one pass only.
//
// When the process runs as root (CI containers), initdb and the server run
// as an unprivileged user (postgres, else nobody) in a folder it owns:
// PostgreSQL refuses to run as root.
package dbtest

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Backend names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

var (
	backend = SQLite // the current pass
	first   = true   // the current pass is the first one of the test binary
	pgURL   string   // the server's admin URL (database "postgres") in the PostgreSQL pass
	dbSeq   atomic.Int64
)

// Backend is the backend of the current pass.
func Backend() string { return backend }

// Main runs the package's tests on each backend and exits. Use it as
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m, ""))
}

// MainWith is Main whose PostgreSQL pass runs only the tests matching
// postgresRun (a -test.run pattern), unless -run was given: for packages
// whose other tests do not touch the ledger, or only a SQLite file.
func MainWith(m *testing.M, postgresRun string) {
	os.Exit(run(m, postgresRun))
}

func required() bool {
	return os.Getenv("RECONCILE_REQUIRE_PG") == "1" || (os.Getenv("CI") != "" && os.Getenv("CI") != "0" && os.Getenv("CI") != "false")
}

func run(m *testing.M, postgresRun string) int {
	only := os.Getenv("RECONCILE_TEST_BACKENDS")
	if !flag.Parsed() {
		flag.Parse()
	}
	code := 0
	if only == "" || only == SQLite {
		backend = SQLite
		code = m.Run()
	}
	if only != "" && only != Postgres {
		return code
	}
	admin, stop, err := startPostgres()
	if err != nil {
		if required() {
			fmt.Fprintf(os.Stderr, "dbtest: PostgreSQL is required (CI or RECONCILE_REQUIRE_PG=1) but: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "dbtest: PostgreSQL pass skipped: %v\n", err)
		return code
	}
	defer stop()
	backend, pgURL = Postgres, admin
	first = only == Postgres
	if f := flag.Lookup("test.run"); postgresRun != "" && f != nil && f.Value.String() == "" {
		_ = f.Value.Set(postgresRun) // a valid pattern, set before the pass
	}
	fmt.Fprintf(os.Stderr, "dbtest: PostgreSQL pass\n")
	if c := m.Run(); c != 0 {
		fmt.Fprintf(os.Stderr, "dbtest: the PostgreSQL pass FAILED\n")
		code = c
	}
	return code
}

// SQLiteOnly skips the test in the PostgreSQL pass.
func SQLiteOnly(tb testing.TB) {
	tb.Helper()
	if backend != SQLite {
		tb.Skip("SQLite only")
	}
}

// NoLedger marks a test that opens no ledger (usage errors, help, pure
// functions): it runs in the first pass only, so that the PostgreSQL pass
// does not repeat what does not depend on the backend.
func NoLedger(tb testing.TB) {
	tb.Helper()
	if !first {
		tb.Skip("opens no ledger: runs in the first (SQLite) pass only")
	}
}

// PostgresOnly skips the test in the SQLite pass.
func PostgresOnly(tb testing.TB) {
	tb.Helper()
	if backend != Postgres {
		tb.Skip("PostgreSQL only")
	}
}

// DB returns a new, empty ledger location for the test, as `--db` takes it:
// a SQLite file path in tb.TempDir(), or the URL of a fresh PostgreSQL
// database that is dropped when the test ends.
func DB(tb testing.TB) string {
	tb.Helper()
	if backend == SQLite {
		return filepath.Join(tb.TempDir(), "ledger.db")
	}
	return NewDatabase(tb)
}

// SQLiteDB returns a new SQLite ledger path whatever the pass.
func SQLiteDB(tb testing.TB) string { return filepath.Join(tb.TempDir(), "ledger.db") }

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates a fresh PostgreSQL database for the test (PostgreSQL
// pass only) and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	if pgURL == "" {
		tb.Fatal("dbtest: no PostgreSQL server in this pass")
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", dbSeq.Add(1), name)
	ctx := context.Background()
	if err := adminExec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("dbtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := adminExec(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			tb.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(pgURL) // parsed when the server started
	u.Path = "/" + name
	tb.Logf("dbtest: ledger in PostgreSQL database %s", name)
	return u.String()
}

// adminExec runs one statement on the server's "postgres" database. It uses
// the "pgx" database/sql driver, which internal/ledger registers (every
// package that uses this one imports the ledger): this leaf package imports
// no driver itself.
func adminExec(ctx context.Context, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		return fmt.Errorf("%w (is internal/ledger imported by the test?)", err)
	}
	defer db.Close() //nolint:errcheck // admin connection, the result is taken
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// binDir finds the folder of initdb and postgres.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb/postgres not found (PATH, /usr/lib/postgresql/*/bin); install PostgreSQL or set RECONCILE_TEST_PG")
}

// startPostgres returns the admin URL of a server and a function that stops
// it (a no-op for RECONCILE_TEST_PG).
func startPostgres() (string, func(), error) {
	if u := os.Getenv("RECONCILE_TEST_PG"); u != "" {
		return u, func() {}, nil
	}
	return StartServer()
}

// StartServer starts a throwaway PostgreSQL server in a temporary folder,
// listening on a unix socket in that folder only, and returns the URL of its
// "postgres" database and a function that stops the server and removes the
// folder. Also used by the benchmarks.
//
// The server dies with the process that started it, even when that process
// is SIGKILLed and its cleanup never runs: the postmaster is a child of this
// process with a parent-death signal (SIGQUIT: immediate shutdown). The
// folder records its owner (pid and start time); StartServer first sweeps
// the folders of owners that are gone, stopping any server still running in
// them (see sweepStale).
func StartServer() (string, func(), error) {
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("", serverDirPrefix)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	if err := writeOwner(dir); err != nil {
		cleanup()
		return "", nil, err
	}
	// Short socket path: unix socket paths are limited to ~107 bytes.
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	var asUser []string
	var cred *syscall.Credential
	role := "reconcile"
	if os.Geteuid() == 0 {
		u, err := unprivilegedUser()
		if err != nil {
			cleanup()
			return "", nil, err
		}
		if cred, err = lookupUser(u); err != nil {
			cleanup()
			return "", nil, err
		}
		if out, err := exec.Command("chown", u, dir).CombinedOutput(); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("running as root and runuser not found: %w", err)
		}
		asUser = []string{runuser, "-u", u, "--"}
	}
	data := filepath.Join(dir, "data")
	all := append(append([]string{}, asUser...), filepath.Join(bin, "initdb"), "-D", data, "-U", role, "-A", "trust",
		"-E", "UTF8", "--locale", "C", "--no-sync")
	if out, err := exec.Command(all[0], all[1:]...).CombinedOutput(); err != nil { //nolint:gosec // test helper: fixed binaries
		cleanup()
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	srv, err := startPostmaster(bin, dir, cred)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	stop := func() {
		srv.stop()
		cleanup()
	}
	u := url.URL{Scheme: "postgres", User: url.User(role), Path: "/postgres", RawQuery: "host=" + url.QueryEscape(dir)}
	return u.String(), stop, nil
}

func unprivilegedUser() (string, error) {
	for _, u := range []string{"postgres", "nobody"} {
		if err := exec.Command("id", "-u", u).Run(); err == nil {
			return u, nil
		}
	}
	return "", fmt.Errorf("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
}
