package ledger

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/queries"
)

var keepDB = flag.Bool("keepdb", false, "keep the test ledgers and print their paths (SQLite)")

// TestMain runs the package's tests on SQLite and, when PostgreSQL is
// available, again on PostgreSQL (see internal/dbtest).
func TestMain(m *testing.M) { dbtest.Main(m) }

// MustOpen opens a new ledger of the current backend pass (a file in
// tb.TempDir(), or with -keepdb in a directory that is kept; or a fresh
// PostgreSQL database) and closes it at the end of the test.
func MustOpen(tb testing.TB) *Store {
	tb.Helper()
	if dbtest.Backend() != dbtest.SQLite {
		return mustOpenPath(tb, dbtest.DB(tb), Options{})
	}
	dir := tb.TempDir()
	if *keepDB {
		d, err := os.MkdirTemp("", "ledger-test-")
		if err != nil {
			tb.Fatal(err)
		}
		dir = d
	}
	path := filepath.Join(dir, "ledger.db")
	if *keepDB {
		tb.Logf("ledger: %s", path)
	}
	return mustOpenPath(tb, path, Options{})
}

func mustOpenPath(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	if opts.migrateThrough != "" && opts.migrateThrough < "0010" {
		s.usePayable0009()
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		checkReferences(tb, s, path)
	})
	return s
}

// checkReferences fails tb if the SQLite ledger at path, as s left it, has a
// row whose parent is missing: the bulk writers insert without SQLite's
// row-by-row reference checks (references.go), so every ledger a test wrote
// is checked whole, closed (tests close their stores too).
func checkReferences(tb testing.TB, s *Store, path string) {
	tb.Helper()
	if s.d.postgres() {
		return // enforced by the server
	}
	if _, err := os.Stat(path); err != nil {
		return // removed by the test
	}
	dsn, err := dataSourceName(path, true)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ro := &Store{db: sqlx.NewDb(db, "sqlite3"), q: s.q, d: s.d}
	if err := ro.ForeignKeyCheck(context.Background()); err != nil {
		tb.Errorf("%s: %v", path, err)
	}
}

var t0 = time.Date(2026, 10, 3, 8, 0, 0, 0, time.UTC)

// mustBeginRun starts a run for 2026-10-15.
func mustBeginRun(tb testing.TB, s *Store) int64 {
	tb.Helper()
	id, err := s.BeginRun(context.Background(), Run{
		RequestedDate: "2026-10-15", StartedAt: t0, BaseURL: "https://api.example/", ToolVersion: "test",
		Settings: `{"concurrency":"4"}`,
	})
	if err != nil {
		tb.Fatalf("BeginRun: %v", err)
	}
	return id
}

// mustPayableBatch opens the payable batch of run id, rolled back at the
// end of the test unless it was committed.
func mustPayableBatch(tb testing.TB, s *Store, id int64) *PayableBatch {
	tb.Helper()
	b, err := s.NewPayableBatch(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Rollback() })
	return b
}

// mustPayableRun begins a run and commits n sample payable lines in it
// (edit, when not nil, changes line i first); it returns the run's id.
func mustPayableRun(tb testing.TB, s *Store, n int, edit func(i int, c *billing.PayableCharge)) int64 {
	tb.Helper()
	id := mustBeginRun(tb, s)
	b := mustPayableBatch(tb, s, id)
	for i := range n {
		c := samplePayable(i)
		if edit != nil {
			edit(i, c)
		}
		if err := b.Add(c); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		tb.Fatal(err)
	}
	return id
}

// mustDigest is s.Digest of run id.
func mustDigest(tb testing.TB, s *Store, id int64) string {
	tb.Helper()
	d, err := s.Digest(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

var october = billing.Period{From: "2026-10-01", To: "2026-10-31"}

func TestStatementsUsedExist(t *testing.T) {
	q, err := loadStatements(queries.FS, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	// The PostgreSQL overrides load (every name they redefine exists).
	if _, err := loadDialectStatements(queries.FS, postgresDialect, func(s string) string { return s }); err != nil {
		t.Fatal(err)
	}
	for _, name := range statementNames {
		if _, ok := q[name]; !ok {
			t.Errorf("statement %q used by the code is missing from queries/*.sql", name)
		}
	}
	// Every name referenced as q[...] in the sources is in statementNames, and
	// every loaded statement is used.
	listed := map[string]bool{}
	for _, n := range statementNames {
		listed[n] = true
	}
	for name := range q {
		if !listed[name] {
			t.Errorf("statement %q in queries/*.sql is not used (not in statementNames)", name)
		}
	}
	for id, v := range constNames(t) {
		if !listed[v] {
			t.Errorf("constant %s = %q is not in statementNames", id, v)
		}
	}
}

// constNames maps the q* constants of store.go to their values.
func constNames(t *testing.T) map[string]string {
	b, err := os.ReadFile("store.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(q[A-Z][A-Za-z]+)\s+= "([a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) != len(statementNames) {
		t.Fatalf("found %d q* constants in store.go, statementNames has %d", len(out), len(statementNames))
	}
	return out
}

func TestLoadStatementsErrors(t *testing.T) {
	tests := []struct {
		name, sql, want string
	}{
		{"duplicate", "-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n", "defined twice"},
		{"empty", "-- name: a\n-- just a comment\n", "is empty"},
		{"sql before name", "SELECT 1;\n-- name: a\nSELECT 2;\n", "before the first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"x.sql": {Data: []byte(tt.sql)}}
			_, err := loadStatements(fsys, func(s string) string { return s })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadStatements = %v, want error containing %q", err, tt.want)
			}
		})
	}
	q, err := loadStatements(fstest.MapFS{"x.sql": {Data: []byte("-- name: a\nSELECT 1;\n\n-- trailing comment\n\n-- name: b\n-- doc\nSELECT 2;\n")}}, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	if q["a"] != "-- name: a\nSELECT 1;" || q["b"] != "-- name: b\n-- doc\nSELECT 2;" {
		t.Fatalf("statements = %q", q)
	}
}

// TestMigrationsMatchAcrossDialects: every migration has a PostgreSQL
// version under the same name, and no other.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := migrations(queries.FS, sqliteDialect)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(queries.FS, postgresDialect)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lite, ",") != strings.Join(pg, ",") {
		t.Fatalf("SQLite migrations %v, PostgreSQL %v", lite, pg)
	}
	fsys := fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0002_b.sql": {}, "migrations/postgres/0001_a.sql": {}}
	if _, err := migrations(fsys, postgresDialect); err == nil || !strings.Contains(err.Error(), "0002_b.sql has no postgres version") {
		t.Fatalf("missing PostgreSQL migration: %v", err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := dbtest.DB(t)
	s1, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := mustBeginRun(t, s1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpenPath(t, path, Options{})
	names, err := migrations(queries.FS, s2.d)
	if err != nil {
		t.Fatal(err)
	}
	var applied []string
	if err := s2.db.Select(&applied, "SELECT name FROM schema_migrations ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(applied, ",") != strings.Join(names, ",") || len(names) == 0 {
		t.Fatalf("applied migrations = %v, want %v", applied, names)
	}
	if _, err := s2.Run(context.Background(), id); err != nil {
		t.Fatalf("run lost after reopening: %v", err)
	}
	if !sort.StringsAreSorted(names) || names[0] != "0001_init.sql" {
		t.Fatalf("migrations = %v", names)
	}
}

func TestOpenRefusesNewerLedger(t *testing.T) {
	path := dbtest.DB(t)
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_future.sql', '')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, opts := range []Options{{}, {ReadOnly: true}, {NoMigrate: true}} {
		_, err = Open(context.Background(), path, opts)
		if err == nil || !strings.Contains(err.Error(), "9999_future.sql") || !strings.Contains(err.Error(), Redact(path)) {
			t.Errorf("Open(%+v) = %v, want an error naming the unknown migration and the ledger", opts, err)
		}
	}
}

func TestOpenSettings(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	conn, err := s.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1", // NORMAL
		"cache_size": strconv.Itoa(-sqliteHeapLimit >> 10), "soft_heap_limit": strconv.Itoa(sqliteHeapLimit),
	} {
		var got string
		if err := conn.GetContext(ctx, &got, "PRAGMA "+pragma); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestSQLiteMemory: SQLite's own allocation counters are read, and a ledger
// in use holds some memory, within its soft heap limit plus a margin.
func TestSQLiteMemory(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	if _, err := s.Runs(context.Background()); err != nil {
		t.Fatal(err)
	}
	used, peak := SQLiteMemory()
	if used <= 0 || peak < used {
		t.Fatalf("SQLiteMemory() = %d, %d: want 0 < used <= peak", used, peak)
	}
	if used > 2*sqliteHeapLimit {
		t.Errorf("SQLite holds %d bytes, more than twice its soft heap limit %d", used, sqliteHeapLimit)
	}
}

func TestOddPath(t *testing.T) {
	dbtest.SQLiteOnly(t)
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "led ger.db")
	s := mustOpenPath(t, path, Options{})
	mustBeginRun(t, s)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("ledger not created at %s: %v", path, err)
	}
	if s.Path() != path {
		t.Fatalf("Path() = %q, want %q", s.Path(), path)
	}
}

func TestReadOnlyOpen(t *testing.T) {
	dbtest.SQLiteOnly(t) // PostgreSQL: TestReadOnlyOpenPostgres
	ctx := context.Background()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.db")
	_, err := Open(ctx, missing, Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open(missing, ReadOnly) = %v, want not-exist naming the path", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open created %s", missing)
	}

	notLedger := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(notLedger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, notLedger, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not a reconcile ledger") {
		t.Fatalf("Open(empty file, ReadOnly) = %v, want 'not a reconcile ledger'", err)
	}

	path := filepath.Join(dir, "ledger.db")
	w := mustOpenPath(t, path, Options{})
	id := mustBeginRun(t, w)
	b, err := w.NewPayableBatch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(samplePayable(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}

	r := mustOpenPath(t, path, Options{ReadOnly: true})
	run, err := r.Run(ctx, id)
	if err != nil || run.Period != october {
		t.Fatalf("read-only Run = %+v, %v", run, err)
	}
	n, _, err := r.Counts(ctx, id)
	if err != nil || n != 1 {
		t.Fatalf("read-only Counts = %d, %v; want 1", n, err)
	}
	if _, err := r.BeginRun(ctx, Run{RequestedDate: "2026-10-01"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("BeginRun on a read-only store = %v, want ErrReadOnly", err)
	}
	if err := r.CheckWritable(ctx); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) {
		t.Errorf("CheckWritable on a read-only store = %v, want ErrReadOnly naming %s", err, path)
	}
	// Even bypassing the store's guard, SQLite refuses to write (mode=ro).
	if _, err := r.db.Exec("INSERT INTO schema_migrations (name, applied_at) VALUES ('x', '')"); err == nil {
		t.Errorf("a write through a mode=ro connection succeeded")
	}
}

func TestCheckWritable(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	s := MustOpen(t)
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable on a fresh ledger: %v", err)
	}
	// The probe left nothing behind.
	var n int
	if err := s.db.Get(&n, "SELECT COUNT(*) FROM schema_migrations WHERE name = '~write-probe'"); err != nil || n != 0 {
		t.Fatalf("write probe left %d rows (%v)", n, err)
	}

	// A connection that cannot write (query_only works even for root, who
	// ignores file permissions).
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.Exec("PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	err := s.CheckWritable(ctx)
	if err == nil || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("CheckWritable on a query_only connection = %v, want an error naming %s", err, s.Path())
	}
	if _, err := s.db.Exec("PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
}

func TestCheckWritablePermissions(t *testing.T) {
	dbtest.SQLiteOnly(t)
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions are not enforced")
	}
	ctx := context.Background()

	t.Run("read-only file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ledger.db")
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		s, err = Open(ctx, path, Options{})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error %v does not name %s", err, path)
			}
			return
		}
		defer s.Close()
		if err := s.CheckWritable(ctx); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("CheckWritable on a 0444 file = %v, want an error naming %s", err, path)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) }) // so that t.TempDir can remove it; it reports if not
		path := filepath.Join(dir, "ledger.db")
		s, err := Open(ctx, path, Options{})
		if err == nil {
			defer s.Close()
			err = s.CheckWritable(ctx)
		}
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open+CheckWritable in a 0555 directory = %v, want an error naming %s", err, path)
		}
	})
}

// A ledger Open creates has 16 KiB pages (ledgerPageSize) and is in WAL
// mode; a ledger that already exists keeps its page size.
func TestNewLedgerPageSize(t *testing.T) {
	if dbtest.Backend() != dbtest.SQLite {
		t.Skip("SQLite's page size")
	}
	ctx := context.Background()
	pageSize := func(s *Store) (n int, mode string) {
		t.Helper()
		if err := s.db.GetContext(ctx, &n, "PRAGMA page_size"); err != nil {
			t.Fatal(err)
		}
		if err := s.db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
			t.Fatal(err)
		}
		return n, mode
	}
	s := MustOpen(t)
	storeRun(t, s, 1, nil)
	if n, mode := pageSize(s); n != ledgerPageSize || mode != "wal" {
		t.Errorf("new ledger: page size %d, journal mode %s; want %d, wal", n, mode, ledgerPageSize)
	}

	// A ledger of 4 KiB pages (made by an older version) stays so.
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE x (a)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	old := mustOpenPath(t, path, Options{})
	storeRun(t, old, 2, nil)
	if n, _ := pageSize(old); n != 4096 {
		t.Errorf("existing ledger: page size %d after Open, want 4096 (unchanged)", n)
	}
}
