package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The default soft limit adapts to the live heap. A fixed 160 MiB is right
// for closes up to about a million line keys, but the engine's state grows
// with the distinct line keys, and once the live heap passes a fixed limit
// the collector runs almost continuously (a 3M-line close took more than
// ten times the CPU of W1M; BENCHMARKS.md, "Scaling curve"). So after each
// collection, when the live heap has reached memLimitHighPct of the limit, the
// limit is raised to memLimitGrowthPct of the live heap: the collector then
// runs when the heap has grown by half, as with GOGC=50, never without
// pause. An explicit GOMEMLIMIT is left alone.
const (
	memLimitHighPct   = 85  // raise when live >= 85 % of the limit
	memLimitGrowthPct = 150 // to 150 % of live
)

var adaptOnce sync.Once

// setDefaultMemoryLimit sets limit as the soft limit and makes it follow the
// live heap (once per process).
func setDefaultMemoryLimit(limit int64) {
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

// adaptMemoryLimit raises the soft limit when the live heap nears it; it
// never lowers it.
func adaptMemoryLimit() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live, limit := int64(s[0].Value.Uint64()), debug.SetMemoryLimit(-1)
	if limit > math.MaxInt64/100 {
		return // no limit (math.MaxInt64) or one too large to matter
	}
	if live*100 >= limit*memLimitHighPct {
		debug.SetMemoryLimit(live * memLimitGrowthPct / 100)
	}
}
