package job

import (
	"runtime"
	"testing"
	"time"
)

// TestMemoryAttrs: the stage lines' memory fields are present, in order,
// and plausible for this test process.
func TestMemoryAttrs(t *testing.T) {
	keep := make([]byte, 8<<20)
	runtime.GC()
	a := memoryAttrs()
	runtime.KeepAlive(keep)
	got := map[string]any{}
	var keys []string
	for i := 0; i+1 < len(a); i += 2 {
		k := a[i].(string)
		keys = append(keys, k)
		got[k] = a[i+1]
	}
	want := []string{"heap_live_mib", "go_mib", "sqlite_mib"}
	if _, ok := processCPU(); ok {
		want = append(want, "cpu_total")
	}
	if runtime.GOOS == "linux" {
		want = append(want, "rss_mib", "rss_peak_mib")
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
	if live := got["heap_live_mib"].(int64); live < 8 || live > got["go_mib"].(int64) {
		t.Errorf("heap_live_mib %d with 8 MiB held, go_mib %d", live, got["go_mib"])
	}
	if cpu, ok := got["cpu_total"].(time.Duration); ok && cpu <= 0 {
		t.Errorf("cpu_total %v", cpu)
	}
	if rss, ok := got["rss_mib"].(int64); ok && (rss < got["heap_live_mib"].(int64) || got["rss_peak_mib"].(int64) < rss) {
		t.Errorf("rss_mib %d, rss_peak_mib %d, heap_live_mib %d", rss, got["rss_peak_mib"], got["heap_live_mib"])
	}
}
