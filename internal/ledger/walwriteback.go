package ledger

import (
	"sync"
	"time"
)

// walWritebackEvery is how often a writable SQLite store asks the kernel to
// start writing its WAL file to disk (walWriteback).
const walWritebackEvery = 200 * time.Millisecond

// walWriteback asks the kernel, every walWritebackEvery while a writable
// SQLite store is open, to start writing the dirty pages of the ledger's WAL
// file to disk (sync_file_range with SYNC_FILE_RANGE_WRITE on Linux; it
// waits for nothing and makes nothing durable by itself).
//
// Why: SQLite fsyncs the WAL before every checkpoint (synchronous=NORMAL)
// and at the run's final commit (synchronous=FULL). A close writes hundreds
// of MiB of WAL between them; on a machine with free memory the kernel
// keeps it all dirty (it starts writing only at 10 % of memory or after
// 30 s), so each fsync waited for all of it while the close's one writer,
// and everything queued behind it, stood still: the payable batch's commit
// spent 0.6-0.7 s in the WAL's fsync at W1M, each automatic checkpoint of
// the fan-out 0.3-0.4 s (BENCHMARKS.md, "Writeback ahead of fsync"). With
// the pages already on their way, an fsync waits for the last fraction of
// a second of writes.
//
// Only the WAL file: SQLite never locks it (its locks are on the database
// file and the -shm file). A descriptor of the database file could not be
// opened and closed here, because closing any descriptor of a file drops
// every POSIX lock the process holds on it, SQLite's included.
//
// Durability is unchanged: the fsyncs SQLite makes are the same; this only
// changes how much of their work is left when they are made.
type walWriteback struct {
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// startWALWriteback starts the writeback of the WAL of the SQLite file at
// dbPath (an absolute path, as given to SQLite): write(dbPath+"-wal") every
// interval until Stop (the store passes startFileWriteback). It returns nil
// where the system has no way to start writeback (then Stop is a no-op).
func startWALWriteback(dbPath string, every time.Duration, write func(path string)) *walWriteback {
	if !writebackSupported {
		return nil
	}
	w := &walWriteback{stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(dbPath+"-wal", every, write)
	return w
}

func (w *walWriteback) run(wal string, every time.Duration, write func(string)) {
	defer close(w.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			write(wal)
		}
	}
}

// Stop ends the writeback goroutine and waits for it. Later calls do
// nothing.
func (w *walWriteback) Stop() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}
