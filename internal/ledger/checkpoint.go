package ledger

import (
	"context"
	"sync"
)

// checkpointer runs one checkpoint at a time in the background and lets
// Close wait for it.
//
// Why: a close's last WAL frames (up to wal_autocheckpoint pages, written
// since the fan-out's last automatic checkpoint: hundreds of MiB at W1M) are
// copied into the database file when the last connection closes, after the
// reports are written: ≈ 0.7 CPU-s and an fsync at the very end of a W1M
// close. Started as soon as the run's final status is committed, the copy
// runs beside the workbook and the JSON instead, and the close's own
// checkpoint finds nothing left to copy. A PASSIVE checkpoint takes no lock
// a reader or writer waits for, and copies only frames no reader still
// needs; crash safety is SQLite's, unchanged (a killed checkpoint is run
// again from the WAL at the next open).
type checkpointer struct {
	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup
	// err is the last background checkpoint's error, for tests: a failed
	// one loses nothing (the WAL keeps the frames for the next checkpoint).
	err error
}

// checkpointAhead starts copying the WAL into the database file in the
// background (SQLite; nothing on PostgreSQL, on a read-only store, or while
// one is already running).
func (s *Store) checkpointAhead() {
	if s.d != sqliteDialect || s.readOnly {
		return
	}
	c := &s.ahead
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	c.running = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// Not cancelled: what it copies, Close would copy anyway, and Close
		// waits for it.
		_, err := s.db.ExecContext(context.Background(), s.q[qCheckpointAhead])
		c.mu.Lock()
		c.running, c.err = false, err
		c.mu.Unlock()
	}()
}

// wait waits for the background checkpoint, if one runs.
func (c *checkpointer) wait() { c.wg.Wait() }
