package job

import (
	"bufio"
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// memoryAttrs are the slog key/value pairs of the process's memory, in MiB,
// for the "stage done" lines: the Go heap's live bytes after the latest
// collection (heap_live_mib) and the memory the Go runtime holds
// (go_mib: heap, stacks and metadata, less what it returned to the OS),
// SQLite's own allocations (sqlite_mib: page caches, statements), the
// process's CPU time so far (cpu_total: user + system; Unix only), and the
// resident set now and at its peak (rss_mib, rss_peak_mib; Linux only).
func memoryAttrs() []any {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(s)
	u := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	sq, _ := ledger.SQLiteMemory()
	attrs := []any{"heap_live_mib", mib(u(0)), "go_mib", mib(u(1) - u(2)), "sqlite_mib", mib(sq)}
	if cpu, ok := processCPU(); ok {
		attrs = append(attrs, "cpu_total", cpu.Round(time.Millisecond))
	}
	if rss, peak, ok := residentSet(); ok {
		attrs = append(attrs, "rss_mib", mib(rss), "rss_peak_mib", mib(peak))
	}
	return attrs
}

// mib rounds bytes to whole MiB.
func mib(b int64) int64 { return (b + 1<<19) >> 20 }

// residentSet reads the resident set size and its peak from
// /proc/self/status (Linux); ok is false elsewhere.
func residentSet() (rss, peak int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &peak
		default:
			continue
		}
		f := bytes.Fields(line[6:])
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		*dst = kb << 10
		found++
	}
	return rss, peak, found == 2
}
