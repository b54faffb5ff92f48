package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemoryLimitFollowsTheLiveHeap: a live heap above the default soft
// limit raises the limit (so the collector does not run without pause),
// and the limit is never lowered again.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const small = 8 << 20
	setDefaultMemoryLimit(small)
	live := make([][]byte, 0, 32)
	for range 32 {
		live = append(live, make([]byte, 1<<20)) // 32 MiB live, 4x the limit
	}
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) <= small && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine
	}
	got := debug.SetMemoryLimit(-1)
	if got < 32<<20 {
		t.Fatalf("soft limit %d MiB with 32 MiB live, want it raised above the live heap", got>>20)
	}
	runtime.KeepAlive(live)
	live = nil
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if now := debug.SetMemoryLimit(-1); now < got {
		t.Fatalf("soft limit lowered from %d to %d MiB", got>>20, now>>20)
	}
	_ = live
}
