package ledger

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver (cgo)

	"github.com/msp-reconcile/reconcile/queries"
)

// ErrNotFound is returned when a run does not exist or no run matches.
var ErrNotFound = errors.New("not found")

// ErrReadOnly is returned by write methods of a Store opened with ReadOnly.
var ErrReadOnly = errors.New("ledger is open read-only")

// ErrNotLedger is the error of a read-only Open of a file or database that
// holds no ledger (no migration applied): PostgreSQL's "missing file".
var ErrNotLedger = errors.New("not a reconcile ledger")

// Options configure Open.
type Options struct {
	// ReadOnly opens the file with mode=ro (for `report`): no migrations are
	// applied, every write fails, and Open fails if the file does not exist.
	ReadOnly bool
	// NoMigrate opens for writing but applies no migration (`reconcile
	// migrate` applies them with Migrate); Open still refuses a ledger whose
	// schema is newer than this version.
	NoMigrate bool
	// LeaseTTL is how long a running run's (and a period lock's) lease lasts
	// without a heartbeat; 0 means DefaultLeaseTTL. Heartbeats renew it every
	// LeaseTTL/4.
	LeaseTTL time.Duration

	// migrateThrough, when set, stops the migrations after the one of that
	// name (tests: a ledger written by an older schema).
	migrateThrough string
}

// Store is a ledger: one SQLite file, or one PostgreSQL database. It is safe
// for concurrent use.
type Store struct {
	db       *sqlx.DB
	d        *dialect
	path     string // the SQLite file, or the PostgreSQL URL with its password redacted
	readOnly bool
	q        map[string]string // named statements, rebound for the driver

	// wlock serialises write transactions (SQLite has one writer). It is a
	// channel rather than a sync.Mutex so that waiting honours the context.
	wlock chan struct{}
	// custCopies are the COPY buffers of the customer transactions on
	// PostgreSQL (pgcopy.go), used under wlock.
	custCopies *customerCopies

	migrateThrough string // see Options.migrateThrough
	// payable0009: the payable tables are those of migration 0009, without
	// customer_ord (a ledger migrated only that far: migrateThrough; set by
	// the tests, payable0009_test.go).
	payable0009 bool

	leaseTTL time.Duration
	holder   string // who this store is, in leases and locks: "host pid N #nonce"
	leases   leases

	// writeback starts the kernel's writeback of a writable SQLite store's
	// files ahead of SQLite's fsyncs (nil otherwise).
	writeback *writeback
	// ahead is the checkpoint started after a run's final commit
	// (checkpointAhead); Close waits for it.
	ahead checkpointer

	// testHook, when set (tests only), is called after each stage of
	// SaveCustomerData; an error aborts the transaction.
	testHook func(ctx context.Context, stage string) error
}

// Names of the statements in queries/*.sql. Every name used in this package is
// listed in statementNames; Open fails if one is missing.
const (
	qCreateSchemaMigrations   = "create_schema_migrations"
	qAppliedMigrations        = "applied_migrations"
	qRecordMigration          = "record_migration"
	qMigrationLock            = "migration_lock"
	qMigrationUnlock          = "migration_unlock"
	qProbeWrite               = "probe_write"
	qSyncFull                 = "sync_full"
	qSyncNormal               = "sync_normal"
	qBeginWrite               = "begin_write"
	qBulkCheckpoint           = "bulk_checkpoint"
	qCheckpointAhead          = "checkpoint_ahead"
	qBulkReferences           = "bulk_references"
	qRowReferences            = "row_references"
	qForeignKeyCheck          = "foreign_key_check"
	qCommit                   = "commit"
	qRollback                 = "rollback"
	qInsertRun                = "insert_run"
	qFinishRun                = "finish_run"
	qSetRunPeriod             = "set_run_period"
	qGetRun                   = "get_run"
	qListRuns                 = "list_runs"
	qFindRun                  = "find_run"
	qInsertPayable            = "insert_payable"
	qInsertPayableCustomer    = "insert_payable_customer"
	qCountPayable             = "count_payable"
	qEachPayableSubTotal      = "each_payable_subtotal"
	qEachPayable              = "each_payable"
	qInsertReceivable         = "insert_receivable"
	qCountReceivableAvailable = "count_receivable_available"
	qEachReceivableAvailable  = "each_receivable_available"
	qEachReceivableAll        = "each_receivable_all"
	qInsertCustomer           = "insert_customer"
	qListCustomers            = "list_customers"
	qInsertCoverage           = "insert_coverage"
	qInsertCoverageListed     = "insert_coverage_listed"
	qCopyCoverageListed       = "copy_coverage_listed"
	qListCoverage             = "list_coverage"
	qInsertSubscription       = "insert_subscription"
	qListSubscriptions        = "list_subscriptions"
	qEachSubscription         = "each_subscription"
	qCopyCoverage             = "copy_coverage"
	qCopyReceivables          = "copy_receivables"
	qCopySubscriptions        = "copy_subscriptions"
	qSetRunSettings           = "set_run_settings"
	qPutRunSummary            = "put_run_summary"
	qListRunSummaries         = "list_run_summaries"
	qColumnExists             = "column_exists"
	qLedgerSize               = "ledger_size"
	qVacuum                   = "vacuum"
	qDeleteRunSubscriptions   = "delete_run_subscriptions"
	qDeleteRunReceivables     = "delete_run_receivables"
	qDeleteRunCoverage        = "delete_run_coverage"
	qDeleteRunCustomers       = "delete_run_customers"
	qDeleteRunPayables        = "delete_run_payables"
	qDeletePayableCustomers   = "delete_run_payable_customers"
	qDeleteRunSummary         = "delete_run_summary"
	qDeleteRun                = "delete_run"
	qInsertDelivery           = "insert_delivery"
	qFinishDelivery           = "finish_delivery"
	qListDeliveries           = "list_deliveries"
	qInsertException          = "insert_exception"
	qListExceptions           = "list_exceptions"
	// Amendments (amendments.go, subscriptions.go).
	qInsertAmendmentEvent      = "insert_amendment_event"
	qListAmendmentEvents       = "list_amendment_events"
	qListAmendmentEventsPeriod = "list_amendment_events_period"
	qListSubscriptionsMissing  = "list_subscriptions_missing"
	qRenewRunLease             = "renew_run_lease"
	qAbandonExpiredRuns        = "abandon_expired_runs"
	qAcquirePeriodLock         = "acquire_period_lock"
	qGetPeriodLock             = "get_period_lock"
	qRenewPeriodLock           = "renew_period_lock"
	qReleasePeriodLock         = "release_period_lock"
	qCountRuns                 = "count_runs"
	qResetRunIDs               = "reset_run_ids"
	qRunningRunHolders         = "running_run_holders"
	qAbandonRun                = "abandon_run"
)

var statementNames = []string{
	qCreateSchemaMigrations, qAppliedMigrations, qRecordMigration, qMigrationLock, qMigrationUnlock, qProbeWrite, qSyncFull, qSyncNormal,
	qBeginWrite, qBulkCheckpoint, qCheckpointAhead, qBulkReferences, qRowReferences, qForeignKeyCheck, qCommit, qRollback,
	qInsertRun, qFinishRun, qSetRunPeriod, qGetRun, qListRuns, qFindRun,
	qInsertPayable, qInsertPayableCustomer, qCountPayable, qEachPayableSubTotal, qEachPayable,
	qInsertReceivable, qCountReceivableAvailable, qEachReceivableAvailable, qEachReceivableAll,
	qInsertCustomer, qListCustomers, qInsertCoverage, qInsertCoverageListed, qCopyCoverageListed, qListCoverage,
	qInsertSubscription, qListSubscriptions, qEachSubscription,
	qCopyCoverage, qCopyReceivables, qCopySubscriptions,
	qSetRunSettings, qPutRunSummary, qListRunSummaries, qColumnExists, qLedgerSize, qVacuum,
	qDeleteRunSubscriptions, qDeleteRunReceivables, qDeleteRunCoverage, qDeleteRunCustomers,
	qDeleteRunPayables, qDeletePayableCustomers, qDeleteRunSummary, qDeleteRun,
	qInsertDelivery, qFinishDelivery, qListDeliveries,
	qInsertException, qListExceptions,
	qInsertAmendmentEvent, qListAmendmentEvents, qListAmendmentEventsPeriod, qListSubscriptionsMissing,
	qRenewRunLease, qAbandonExpiredRuns, qAcquirePeriodLock, qGetPeriodLock, qRenewPeriodLock, qReleasePeriodLock,
	qCountRuns, qResetRunIDs, qRunningRunHolders, qAbandonRun,
}

// Open opens (creating it if needed, unless read-only) the ledger at path and
// brings its schema up to date. A ledger it creates is FilePerm (0600, owner
// only) whatever the umask, and so are the -wal and -shm files SQLite makes
// beside it; an existing ledger keeps its mode (see ModeWarning).
//
// The connection settings, applied to every pooled connection:
//   - _foreign_keys=on: SQLite does not enforce REFERENCES unless asked, per
//     connection; every row must belong to a run (and receivables to a customer).
//     The payable batch and the customer writer switch the row-by-row check
//     off for their own transactions (references.go).
//   - _journal_mode=WAL: readers (reports) never block the writer and the writer
//     never blocks readers; a crash mid-transaction leaves the file consistent.
//   - _synchronous=NORMAL: in WAL mode a commit does not fsync; commits still
//     survive a crash of the process, and a power loss can only roll back the
//     latest commits, never corrupt. The run's final status is written with
//     synchronous=FULL (see FinishRun), which makes the whole run durable.
//   - _busy_timeout=5000: another process holding the write lock makes us wait
//     up to 5 s instead of failing at once with SQLITE_BUSY.
//   - _txlock=immediate: write transactions take the write lock at BEGIN, so two
//     writers queue instead of deadlocking on a read-to-write upgrade.
//   - _cache_size: up to sqliteHeapLimit (4 MiB) of page cache per connection
//     (grown on demand).
//   - _mutex=no: see below.
//
// A read-only Open uses mode=ro and query_only instead (and _mutex=no),
// applies no migrations, and fails if the file does not exist or its schema
// is not the one this version writes.
//
// Every connection, read-only or writable, is opened with _mutex=no
// (SQLITE_OPEN_NOMUTEX, SQLite's "multi-thread" mode for that connection):
// SQLite then takes no connection mutex, which it otherwise locks and unlocks
// on every call (each bind, step, reset and sqlite3_column_*: ≈ 8 % of a
// compare's CPU, ≈ 2.6 % of a close's). That is safe because no connection
// is ever used by two goroutines at once:
//   - database/sql hands a connection to one caller at a time and makes every
//     driver call on it (Exec, Query, Rows.Next, Stmt.Close, and the function
//     of Conn.Raw) under that connection's lock;
//   - the ledger's own driver-level work (the payable writer's prepared
//     insert, the customer transactions' statements, used through
//     sql.Conn.Raw) stays on the sql.Conn that holds the transaction, used by
//     one goroutine: the payable writer's (newPayableWriter prepares before
//     `go w.run()` starts it) or the caller of customerTx (the
//     CustomerWriter's goroutine); no *sql.Tx or *sql.Conn of this package is
//     shared between goroutines, and the other goroutines (lease heartbeats,
//     OnCommit's delivery) take connections of their own from the pool;
//   - go-sqlite3 cancels a running statement from another goroutine with
//     sqlite3_interrupt, which SQLite documents as safe to call from another
//     thread while the connection is in use (it takes no connection mutex);
//   - what connections share (the WAL index, file locks, the page-cache and
//     memory accounting under soft_heap_limit) is guarded by SQLite's global
//     mutexes, which NOMUTEX leaves in place (go-sqlite3 builds SQLite with
//     SQLITE_THREADSAFE=1).
//
// target is a --db value: a file path or "sqlite:PATH" for SQLite, a
// postgres:// (or postgresql://) URL for PostgreSQL (see IsPostgres). On
// PostgreSQL the database must exist; Open creates the tables (migrations)
// unless read-only. Errors never show a password of the URL.
func Open(ctx context.Context, target string, opts Options) (*Store, error) {
	if target == "" {
		return nil, errors.New("open ledger: no path given")
	}
	if IsPostgres(target) {
		return openPostgresStore(ctx, target, opts)
	}
	path, _ := SQLitePath(target)
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open ledger %s read-only: %w", path, err)
		}
	} else if err := createFile(path); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	} else if err := initPageSize(ctx, path); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	dsn, err := dataSourceName(path, opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := sqlx.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// All connections together keep at most sqliteHeapLimit of page cache
	// (process-wide; each connection may still grow its own cache up to
	// _cache_size while the others hold little, as the payable writer does).
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA soft_heap_limit = %d", sqliteHeapLimit)); err != nil {
		_ = db.Close() // already failing
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	s := &Store{db: db, d: sqliteDialect, path: path, readOnly: opts.ReadOnly, wlock: make(chan struct{}, 1)}
	if err := s.open(ctx, opts); err != nil {
		_ = db.Close() // already failing with open's error
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if !opts.ReadOnly {
		abs, err := filepath.Abs(path)
		if err != nil {
			_ = db.Close() // already failing
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		s.writeback = startWriteback(ctx, abs)
	}
	return s, nil
}

func openPostgresStore(ctx context.Context, target string, opts Options) (*Store, error) {
	shown := Redact(target)
	db, err := openPostgres(target, opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", shown, err)
	}
	s := &Store{db: db, d: postgresDialect, path: shown, readOnly: opts.ReadOnly, wlock: make(chan struct{}, 1)}
	if err := s.open(ctx, opts); err != nil {
		_ = db.Close() // already failing with open's error
		return nil, fmt.Errorf("open ledger %s: %w", shown, err)
	}
	return s, nil
}

// Backend is the ledger's database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

func (s *Store) open(ctx context.Context, opts Options) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	q, err := loadDialectStatements(queries.FS, s.d, s.db.Rebind)
	if err != nil {
		return err
	}
	for _, name := range statementNames {
		if _, ok := q[name]; !ok {
			return fmt.Errorf("load statements: statement %q not found in queries/*.sql", name)
		}
	}
	s.q = q
	s.leaseTTL = opts.LeaseTTL
	if s.leaseTTL <= 0 {
		s.leaseTTL = DefaultLeaseTTL
	}
	s.holder = holderName()
	s.migrateThrough = opts.migrateThrough
	if s.readOnly {
		return s.checkSchema(ctx)
	}
	if opts.NoMigrate {
		// Only refuse a newer schema; `reconcile migrate` applies the rest.
		if names, err := migrations(queries.FS, s.d); err != nil {
			return err
		} else if _, err := s.appliedMigrations(ctx, s.db); err == nil {
			return s.checkUnknownMigrations(ctx, names)
		}
		return nil
	}
	return s.migrate(ctx)
}

// sqliteHeapLimit is SQLite's soft heap limit (PRAGMA soft_heap_limit): the
// memory all ledger connections of the process may hold together, page
// caches included, before SQLite recycles cache pages instead of growing;
// it is also each connection's cache_size. 4 MiB (256 pages of 16 KiB):
// the close writes each page about once (the charge tables are clustered by
// their read order and filled run by run, so an insert touches the right
// edge of each tree) and reads the run once per sheet (through read-only
// connections with SQLite's default cache), so a larger cache mostly holds
// pages that are not needed again; at W1M 64 MiB cost 48 MiB of peak RSS
// and 16 MiB another 12 for no measurable CPU (BENCHMARKS.md, "Peak RSS",
// "Peak RSS round three").
const sqliteHeapLimit = 4 << 20

// ledgerPageSize is the page size of the SQLite ledgers Open creates:
// 16 KiB instead of SQLite's 4 KiB. SQLite reads and writes a page per
// system call (a WAL frame is two: its header and the page), so a close's
// ledger, written once and read in key order, costs fewer calls (a
// 2,000-customer close: 410k → 165k reads and writes; BENCHMARKS.md,
// "SQLite connections: no mutex, 16 KiB pages"). The page cache is sized
// in bytes (_cache_size, soft_heap_limit), so it holds as much data as
// before. A ledger keeps the page size it was created with.
const ledgerPageSize = 16 << 10

// initPageSize gives the empty file at path (a ledger Open has just
// created) the ledger's page size: the page size only takes effect when the
// database is first written, on the connection that writes it, so a
// connection of its own sets it and writes the header (journal_mode=WAL,
// which every connection would set anyway). A file that is not empty is
// left as it is; so is one that another process initialises first (its
// page size is then SQLite's default, which is only slower).
func initPageSize(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() > 0 {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()+"?_busy_timeout=5000&_mutex=no")
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d; PRAGMA journal_mode = WAL;", ledgerPageSize))
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	return nil
}

// dataSourceName builds the go-sqlite3 DSN: a file: URI (so that mode=ro is
// understood and odd characters in the path are escaped) plus the options
// explained on Open.
func dataSourceName(path string, readOnly bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	params := "_foreign_keys=on&_busy_timeout=5000&_mutex=no"
	if readOnly {
		params = "mode=ro&_query_only=1&" + params
	} else {
		params += "&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_cache_size=" + strconv.Itoa(-sqliteHeapLimit>>10)
	}
	return "file:" + u.EscapedPath() + "?" + params, nil
}

// loadStatements reads the named statements of every top-level .sql file. A
// statement starts at a line "-- name: NAME" and runs to the next such line;
// trailing blank and comment lines are dropped.
func loadStatements(fsys fs.FS, rebind func(string) string) (map[string]string, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("load statements: %w", err)
	}
	sort.Strings(files)
	out := make(map[string]string)
	for _, file := range files {
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("load statements: %w", err)
		}
		var name string
		var lines []string
		flush := func() error {
			if name == "" {
				return nil
			}
			for len(lines) > 0 {
				last := strings.TrimSpace(lines[len(lines)-1])
				if last != "" && !strings.HasPrefix(last, "--") {
					break
				}
				lines = lines[:len(lines)-1]
			}
			if len(lines) <= 1 {
				return fmt.Errorf("load statements: %s: statement %q is empty", file, name)
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("load statements: %s: statement %q defined twice", file, name)
			}
			out[name] = rebind(strings.Join(lines, "\n"))
			return nil
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
				if err := flush(); err != nil {
					return nil, err
				}
				name, lines = strings.TrimSpace(n), []string{line}
				if name == "" {
					return nil, fmt.Errorf("load statements: %s: empty statement name", file)
				}
				continue
			}
			if name == "" {
				if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
					return nil, fmt.Errorf("load statements: %s: SQL before the first \"-- name:\" line", file)
				}
				continue
			}
			lines = append(lines, line)
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Close stops the heartbeats of the store's running runs and locks and
// closes the database.
func (s *Store) Close() error {
	s.leases.stopAll()
	s.ahead.wait()
	s.writeback.Stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", s.path, err)
	}
	return nil
}

// Path is the path the store was opened with (for PostgreSQL, the URL
// without its password).
func (s *Store) Path() string { return s.path }

// CheckWritable verifies, before any network call, that the ledger can be
// written: it performs a real write in a transaction that is rolled back. The
// error names the path (read-only open, read-only file, read-only directory...).
func (s *Store) CheckWritable(ctx context.Context) error {
	if s.readOnly {
		return fmt.Errorf("ledger %s is not writable: %w", s.path, ErrReadOnly)
	}
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("ledger %s is not writable: %w", s.path, err)
	}
	defer s.unlockWrite()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger %s is not writable: %w", s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q[qProbeWrite]); err != nil {
		return fmt.Errorf("ledger %s is not writable: %w", s.path, err)
	}
	return nil
}

func (s *Store) lockWrite(ctx context.Context) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrite() { <-s.wlock }

// writeTx runs fn in one write transaction, holding the store's write lock:
// all or nothing. The transaction is serialisable on both backends (SQLite:
// one writer at a time, BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE), so two
// processes writing the same rows at once (e.g. from two machines) never
// lose an update: on PostgreSQL the loser's transaction fails with a
// serialization failure and writeTx runs fn again, up to writeTxAttempts
// times. fn must therefore only touch the database through tx.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	var err error
	for attempt := 1; attempt <= writeTxAttempts; attempt++ {
		if err = s.writeTxOnce(ctx, fn); err == nil || !retryable(err) {
			return err
		}
		serializationRetries.Add(1)
		if attempt < writeTxAttempts {
			if werr := retryWait(ctx, attempt); werr != nil {
				return werr
			}
		}
	}
	return fmt.Errorf("gave up after %d serialization failures: %w", writeTxAttempts, err)
}

const writeTxAttempts = 10

// retryWait waits before attempt+1 of a transaction that failed with a
// serialization failure: a random time up to 2ms·2^attempt (at most ~1s), so
// that writers that collided do not collide again at once (without it, three
// writers revoking at the same moment could fail ten times in a row).
func retryWait(ctx context.Context, attempt int) error {
	ceiling := 2 * time.Millisecond << min(attempt, 9)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serializationRetries counts the write transactions that failed with a
// serialization failure and were run again (the tests show the retry ran).
var serializationRetries atomic.Int64

func (s *Store) writeTxOnce(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, s.d.txOpts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// count runs a SELECT COUNT(*) statement.
func (s *Store) count(ctx context.Context, q sqlx.QueryerContext, name string, args ...any) (int, error) {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, s.q[name], args...); err != nil {
		return 0, err
	}
	return n, nil
}

func nullString(ns sql.NullString) string {
	if ns.Valid {
		return ns.String
	}
	return ""
}
