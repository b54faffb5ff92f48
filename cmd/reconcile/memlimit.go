package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
)

// The default soft limit adapts to the live heap. A fixed limit is right for
// closes up to about a million line keys, but the engine's state grows with
// the distinct line keys, and once the live heap passes a fixed limit the
// collector runs almost continuously (a 3M-line close took more than ten
// times the CPU of W1M; BENCHMARKS.md, "Scaling curve"). So after each
// collection the room the limit leaves the heap to grow in (the limit less
// the live heap and the runtime's own memory: stacks, metadata, fragments)
// is checked: when it is less than an eighth of the live heap, the limit is
// raised to leave half the live heap (the collector then runs when the heap
// has grown by half, as with GOGC=50, never without pause); when a raised
// limit leaves more than the live heap (the engine's state is freed once the
// Result is built), it comes back down the same way, never below the
// default, so that a peak of the live heap does not leave the rest of the
// close with its limit. An explicit GOMEMLIMIT is left alone.

var (
	adaptOnce sync.Once
	baseLimit atomic.Int64 // the default limit: the adaptive limit's floor
	// roomShare: a raised limit leaves the heap live/roomShare to grow in
	// (2 by default; see setMemoryRoomShare).
	roomShare atomic.Int64
)

func init() { roomShare.Store(2) }

// setMemoryRoomShare makes a raised limit leave the heap live/share to grow
// in (share 2 at the least: half) instead of half of it. compare sets 4: its
// live heap peaks when both runs' snapshots are held and it allocates little
// after that, so a quarter costs it a few CPU-seconds at most at W1M and keeps
// its peak RSS 20–40 MiB lower (BENCHMARKS.md, "Round three results"); the
// close keeps half, which keeps a 3M-line close linear.
func setMemoryRoomShare(share int64) { roomShare.Store(max(share, 2)) }

// setDefaultMemoryLimit sets limit as the soft limit and makes it follow the
// live heap (once per process).
func setDefaultMemoryLimit(limit int64) {
	baseLimit.Store(limit)
	debug.SetMemoryLimit(limit)
	adaptOnce.Do(func() { armMemoryLimit() })
}

// gcSentinel is garbage from the start: its finalizer runs after the next
// collection (it holds a pointer, so the tiny allocator never batches it).
type gcSentinel struct{ _ *byte }

func armMemoryLimit() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		adaptMemoryLimit()
		armMemoryLimit()
	})
}

var memSamples = [...]string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
}

// adaptMemoryLimit raises the soft limit when it leaves the heap too little
// room, and lowers a raised limit that leaves much more than needed.
func adaptMemoryLimit() {
	s := make([]metrics.Sample, len(memSamples))
	for i, name := range memSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	var v [len(memSamples)]int64
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 || s[i].Value.Uint64() > math.MaxInt64/4 {
			return
		}
		v[i] = int64(s[i].Value.Uint64())
	}
	live, overhead := v[0], max(0, v[1]-v[2]-v[3]-v[4])
	limit := debug.SetMemoryLimit(-1)
	if limit > math.MaxInt64/4 {
		return // no limit (math.MaxInt64) or one too large to matter
	}
	if next, ok := nextMemoryLimit(limit, baseLimit.Load(), live, overhead, roomShare.Load()); ok {
		debug.SetMemoryLimit(next)
	}
}

// nextMemoryLimit is the soft limit that should follow limit (ok false: keep
// it), given the live heap and the runtime's memory other than the heap; a
// raised limit leaves live/share to grow in.
func nextMemoryLimit(limit, base, live, overhead, share int64) (int64, bool) {
	room := limit - overhead - live
	want := overhead + live + live/share
	switch {
	case room < live/8:
		return want, want != limit
	case limit > base && room > live:
		return max(base, want), true
	}
	return 0, false
}

// sampleHeapOnlyIfAsked turns the runtime's heap profile sampling off
// unless args ask for a heap profile (--memprofile). The sampling keeps a
// bucket per allocation stack it sees: ≈ 1.5 MiB of the runtime's own
// memory at W1M, which counts against the soft limit and leaves the heap
// that much less room. Called from main, before anything else allocates
// much (runtime.MemProfileRate should be set once, early).
func sampleHeapOnlyIfAsked(args []string) {
	if !memProfileAsked(args) {
		runtime.MemProfileRate = 0
	}
}

// memProfileAsked reports whether args hold the memprofile flag in any of
// the flag package's spellings (a value that merely looks like it keeps the
// sampling on, which costs memory, never a profile).
func memProfileAsked(args []string) bool {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "memprofile" {
			return true
		}
	}
	return false
}
