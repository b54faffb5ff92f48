package ledger

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// TestWALWritebackStartsWithWritableStore: a writable SQLite store starts
// the WAL's writeback (where the system supports it), a read-only one does
// not, and Close stops it (twice is fine).
func TestWALWritebackStartsWithWritableStore(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.walWriteback != nil; got != writebackSupported {
		t.Errorf("writable store: WAL writeback started = %v, want %v", got, writebackSupported)
	}
	mustBeginRun(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if w := s.walWriteback; w != nil {
		select {
		case <-w.done:
		default:
			t.Error("Close left the WAL writeback running")
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
	if ro.walWriteback != nil {
		t.Error("read-only store started a WAL writeback")
	}
}

// TestWALWritebackTicks: the writeback is asked for the WAL's path on every
// tick, and not after Stop.
func TestWALWritebackTicks(t *testing.T) {
	if !writebackSupported {
		t.Skip("no writeback on this system") // Linux-only feature; CI runs Linux
	}
	var mu sync.Mutex
	var calls []string
	w := startWALWriteback("/data/l.db", time.Millisecond, func(p string) {
		mu.Lock()
		calls = append(calls, p)
		mu.Unlock()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writeback calls in 10 s, want 3", n)
		}
		time.Sleep(time.Millisecond)
	}
	w.Stop()
	w.Stop()
	mu.Lock()
	n := len(calls)
	for _, p := range calls {
		if p != "/data/l.db-wal" {
			t.Fatalf("writeback of %q, want the WAL /data/l.db-wal", p)
		}
	}
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != n {
		t.Errorf("%d writeback calls after Stop", len(calls)-n)
	}
}

// TestStartFileWriteback: starting the writeback of a real file leaves its
// content as it was, and a missing file is not an error.
func TestStartFileWriteback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	startFileWriteback(path)
	startFileWriteback(path + "-missing")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("file content changed by its writeback")
	}
}
