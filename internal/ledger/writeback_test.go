package ledger

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestWritebackStartsWithWritableStore: a writable SQLite store starts the
// writeback of its WAL and of its database file, reached through SQLite's
// own descriptor (where the system supports it); a read-only store does
// not; Close stops it (twice is fine) and releases its connection.
func TestWritebackStartsWithWritableStore(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := s.writeback
	if got := w != nil; got != writebackSupported {
		t.Fatalf("writable store: writeback started = %v, want %v", got, writebackSupported)
	}
	if w != nil {
		abs, _ := filepath.Abs(path)
		if w.wal != abs+"-wal" {
			t.Errorf("writeback of %q, want the WAL %q", w.wal, abs+"-wal")
		}
		if w.dbFD < 0 || w.conn == nil {
			t.Errorf("database file's descriptor not reached (fd %d)", w.dbFD)
		} else if !sameFile(w.dbFD, path) {
			t.Errorf("descriptor %d is not the ledger's file", w.dbFD)
		}
	}
	mustBeginRun(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		select {
		case <-w.done:
		default:
			t.Error("Close left the writeback running")
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.writeback != nil {
		t.Error("read-only store started a writeback")
	}
}

// TestWritebackTicks: every tick asks for the WAL's writeback by path and
// the database's by descriptor, and nothing is asked after Stop.
func TestWritebackTicks(t *testing.T) {
	var mu sync.Mutex
	var files []string
	var fds []int
	w := &writeback{every: time.Millisecond, wal: "/data/l.db-wal", dbFD: 42,
		file: func(p string) error { mu.Lock(); files = append(files, p); mu.Unlock(); return nil },
		fd:   func(fd int) error { mu.Lock(); fds = append(fds, fd); mu.Unlock(); return nil }}
	w.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(fds)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writeback ticks in 10 s, want 3", n)
		}
		time.Sleep(time.Millisecond)
	}
	w.Stop()
	w.Stop()
	mu.Lock()
	n := len(files)
	for _, p := range files {
		if p != "/data/l.db-wal" {
			t.Errorf("writeback of %q, want /data/l.db-wal", p)
		}
	}
	for _, fd := range fds {
		if fd != 42 {
			t.Errorf("writeback of descriptor %d, want 42", fd)
		}
	}
	if len(fds) != n {
		t.Errorf("%d WAL writebacks and %d database writebacks, want one of each a tick", n, len(fds))
	}
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(files) != n {
		t.Errorf("%d writeback calls after Stop", len(files)-n)
	}
}

// TestStartFileWriteback: the kernel accepts the writeback of a file with
// dirty pages, by path and by descriptor (the system call's error is
// returned to the test, though the store ignores it); the content is
// unchanged; a missing file is reported, not a panic.
func TestStartFileWriteback(t *testing.T) {
	if !writebackSupported {
		t.Skip("no writeback on this system") // Linux-only feature; CI runs Linux
	}
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startFileWriteback(path); err != nil {
		t.Fatalf("writeback of %s: %v", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("dirty again"), 4096); err != nil {
		t.Fatal(err)
	}
	copy(want[4096:], "dirty again")
	if err := startFDWriteback(int(f.Fd())); err != nil {
		t.Fatalf("writeback of descriptor %d: %v", f.Fd(), err)
	}
	if err := startFileWriteback(path + "-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("writeback of a missing file = %v, want not-exist", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("file content changed by its writeback")
	}
}
