package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemoryLimitFollowsTheLiveHeap: a live heap above the default soft
// limit raises the limit (so the collector does not run without pause);
// once that heap is garbage the limit comes back down, to the default and
// never below it.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer baseLimit.Store(baseLimit.Load())
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
	deadline = time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) >= got && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	now := debug.SetMemoryLimit(-1)
	if now >= got {
		t.Fatalf("soft limit still %d MiB with the 32 MiB freed, want it lowered", now>>20)
	}
	if now < small {
		t.Fatalf("soft limit lowered to %d MiB, below the default %d MiB", now>>20, small>>20)
	}
	_ = live
}

// TestNextMemoryLimit pins the rule: raise when the room left is under an
// eighth of the live heap (to half of it), lower a raised limit that leaves
// more than the live heap, never below the default, else keep it.
func TestNextMemoryLimit(t *testing.T) {
	const M = 1 << 20
	for _, c := range []struct {
		limit, base, live, overhead int64
		want                        int64 // 0: kept
		share                       int64 // 0: 2, the default
	}{
		{144 * M, 144 * M, 110 * M, 14 * M, 0, 0},              // W1M: 20 MiB room, 18 % of live
		{144 * M, 144 * M, 120 * M, 14 * M, 14*M + 180*M, 0},   // 10 MiB room: raised to half the live heap
		{24 * M, 24 * M, 23 * M, 10 * M, 10*M + 34*M + M/2, 0}, // the limit below live + overhead
		{194 * M, 144 * M, 120 * M, 14 * M, 0, 0},              // raised, 60 MiB room: kept
		{194 * M, 144 * M, 60 * M, 14 * M, 144 * M, 0},         // the state freed: back to the default
		{400 * M, 144 * M, 200 * M, 14 * M, 0, 0},              // 186 MiB room, less than live: kept
		{600 * M, 144 * M, 200 * M, 14 * M, 314 * M, 0},        // lowered to half the live heap of room
		{144 * M, 144 * M, 10 * M, 14 * M, 0, 0},               // small close: the default
		{144 * M, 144 * M, 164 * M, 14 * M, 14*M + 205*M, 4},   // compare: a quarter of the live heap of room
		{300 * M, 144 * M, 100 * M, 14 * M, 144 * M, 4},        // compare, the snapshots freed: back down
	} {
		if c.share == 0 {
			c.share = 2
		}
		got, ok := nextMemoryLimit(c.limit, c.base, c.live, c.overhead, c.share)
		if !ok {
			got = 0
		}
		if got != c.want {
			t.Errorf("nextMemoryLimit(limit %d, base %d, live %d, overhead %d MiB) = %d MiB, want %d MiB",
				c.limit/M, c.base/M, c.live/M, c.overhead/M, got/M, c.want/M)
		}
	}
}

// TestMemProfileAsked: heap profile sampling stays on only when the
// memprofile flag is among the arguments, in any spelling the flag package
// takes.
func TestMemProfileAsked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"run", "--period", "2026-10"}, false},
		{[]string{"run", "--memprofile", "m.prof"}, true},
		{[]string{"run", "-memprofile=m.prof"}, true},
		{[]string{"compare", "--memprofile=m.prof", "1", "2"}, true},
		{[]string{"run", "--out", "memprofile"}, false},
		{[]string{"run", "--cpuprofile", "c.prof"}, false},
		{nil, false},
	} {
		if got := memProfileAsked(c.args); got != c.want {
			t.Errorf("memProfileAsked(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
