package report

import (
	"runtime"
	"testing"
)

// BenchmarkEngineMemory feeds 2,000 customers × 100 line keys (200k distinct
// keys, each with a payable and most with a receivable line) and reports the
// heap the Reconciler retains per key (HeapInuse after a GC, minus the heap
// before it was built; the input lines themselves are not counted).
func BenchmarkEngineMemory(b *testing.B) {
	const customers, perCustomer = 2000, 100
	in, pays, recs := benchEngineDataset(customers, perCustomer)
	keys := customers * perCustomer
	var perKey float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		r := NewReconciler(in, Options{})
		for j := range pays {
			r.AddPayable(&pays[j])
		}
		for _, c := range in.Customers {
			rs := recs[c.ID]
			for j := range rs {
				r.AddReceivable(c.ID, &rs[j])
			}
		}

		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perKey = (float64(after.HeapInuse) - float64(before.HeapInuse)) / float64(keys)
		runtime.KeepAlive(r)
		b.StartTimer()
	}
	b.ReportMetric(perKey, "B/key")
}
