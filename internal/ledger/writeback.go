package ledger

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// writebackEvery is how often a writable SQLite store asks the kernel to
// start writing its files' dirty pages to disk (writeback).
const writebackEvery = 100 * time.Millisecond

// writeback asks the kernel, every writebackEvery while a writable SQLite
// store is open, to start writing the dirty pages of the ledger's WAL and
// database files to disk (sync_file_range with SYNC_FILE_RANGE_WRITE on
// Linux; it waits for nothing and makes nothing durable by itself).
//
// Why: SQLite fsyncs the WAL before every checkpoint and the database file
// after it (synchronous=NORMAL), and the WAL at the run's final commit
// (synchronous=FULL). A close writes hundreds of MiB between them; on a
// machine with free memory the kernel keeps it all dirty (it starts writing
// only at 10 % of memory or after 30 s), so each fsync waited for all of
// it while the close's one writer, and everything queued behind it, stood
// still: at W1M the payable batch's commit spent ≈ 0.6 s in the WAL's fsync
// and ≈ 0.4 s in the database's, each automatic checkpoint of the fan-out
// ≈ 0.3 and 0.2 s (BENCHMARKS.md, "Writeback ahead of fsync"). With the
// pages already on their way, an fsync finds most of them written: the
// close's fsync waits went from ≈ 4.5 s to ≈ 1.9 s at W1M.
//
// The WAL is opened by path on every tick (SQLite never locks it; its locks
// are on the database and -shm files). The database file is reached through
// the descriptor SQLite itself holds for an idle read-only connection kept
// for this (sqliteFileDescriptor): opening and closing a descriptor of our own
// would drop every POSIX lock the process holds on the file, SQLite's
// included. That descriptor is used only when it is the ledger's file
// (same device and inode).
//
// Durability is unchanged: SQLite makes the same fsyncs; this only changes
// how much of their work is left when they are made.
type writeback struct {
	every time.Duration
	wal   string                  // the WAL's path
	dbFD  int                     // SQLite's descriptor of the database file, or -1
	db    *sql.DB                 // the pool of that connection, or nil
	conn  *sql.Conn               // the connection that holds dbFD open, or nil
	file  func(path string) error // starts the writeback of a file by path
	fd    func(fd int) error      // starts the writeback of a descriptor
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startWriteback starts the writeback of the SQLite ledger at dbPath (an
// absolute path, as given to SQLite). It returns nil where the system has
// no way to start writeback. A failure to reach the database file's
// descriptor only leaves that file out.
func startWriteback(ctx context.Context, dbPath string) *writeback {
	if !writebackSupported {
		return nil
	}
	w := &writeback{every: writebackEvery, wal: dbPath + "-wal", dbFD: -1, file: startFileWriteback, fd: startFDWriteback}
	w.dbFD, w.db, w.conn = databaseDescriptor(ctx, dbPath)
	w.start()
	return w
}

// databaseDescriptor opens a read-only connection of its own to the ledger
// at dbPath (not one of the store's pool, whose size callers may limit) and
// returns SQLite's descriptor of the database file, valid while conn is
// open; -1 (and nothing open) when it cannot be reached or is not the
// ledger's file. The connection stays idle: it holds no transaction, so it
// delays no checkpoint.
func databaseDescriptor(ctx context.Context, dbPath string) (fd int, db *sql.DB, conn *sql.Conn) {
	dsn, err := dataSourceName(dbPath, true)
	if err != nil {
		return -1, nil, nil
	}
	db, err = sql.Open("sqlite3", dsn)
	if err != nil {
		return -1, nil, nil
	}
	db.SetMaxOpenConns(1)
	if conn, err = db.Conn(ctx); err != nil {
		_ = db.Close()
		return -1, nil, nil
	}
	fd = -1
	_ = conn.Raw(func(dc any) error {
		if d, ok := sqliteFileDescriptor(dc); ok && sameFile(d, dbPath) {
			fd = d
		}
		return nil
	})
	if fd < 0 {
		_ = conn.Close()
		_ = db.Close()
		return -1, nil, nil
	}
	return fd, db, conn
}

func (w *writeback) start() {
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	go w.run()
}

func (w *writeback) run() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.file(w.wal) // advisory: see startFileWriteback
			if w.dbFD >= 0 {
				_ = w.fd(w.dbFD)
			}
		}
	}
}

// Stop ends the writeback and releases its connection; call it before the
// store's database is closed. Later calls do nothing.
func (w *writeback) Stop() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		if w.conn != nil {
			_ = w.conn.Close()
			_ = w.db.Close()
		}
	})
}
