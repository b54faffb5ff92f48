package report

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// BenchmarkEngineMemory feeds 2,000 customers × 100 line keys (200k distinct
// keys, each with a payable and most with a receivable line) and reports the
// heap the Reconciler retains per key (HeapInuse after a GC, minus the heap
// before it was built; the input lines themselves are not counted).
func BenchmarkEngineMemory(b *testing.B) {
	const customers, perCustomer = 2000, 100
	in, pays, recs := benchEngineDataset(customers, perCustomer)
	keys := customers * perCustomer
	var retained float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		retained, _ = retainedHeap(b, in, pays, recs, 1)
	}
	b.ReportMetric(retained/float64(keys), "B/key")
}

// BenchmarkEngineMemoryLinesPerKey holds the distinct keys fixed (500
// customers × 100 keys) and feeds every key's payable and receivable line 1,
// 4 and 16 times, so the lines grow 16-fold while the keys do not. The heap
// the Reconciler retains per key stays the same: its state grows with the
// distinct line keys, not with the lines (B/line falls as 1/lines-per-key).
func BenchmarkEngineMemoryLinesPerKey(b *testing.B) {
	const customers, perCustomer = 500, 100
	in, pays, recs := benchEngineDataset(customers, perCustomer)
	keys := customers * perCustomer
	for _, n := range []int{1, 4, 16} {
		b.Run("lines-per-key="+strconv.Itoa(n), func(b *testing.B) {
			var retained float64
			lines := 0
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				retained, lines = retainedHeap(b, in, pays, recs, n)
			}
			b.ReportMetric(retained/float64(keys), "B/key")
			b.ReportMetric(retained/float64(lines), "B/line")
		})
	}
}

// retainedHeap builds a Reconciler, feeds it every payable and receivable
// line times times, and returns the heap it retains (HeapInuse after a GC,
// minus before; the GCs are outside the timer) and the lines fed.
func retainedHeap(b *testing.B, in Input, pays []billing.PayableCharge, recs map[string][]billing.ReceivableCharge, times int) (float64, int) {
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.StartTimer()

	r := NewReconciler(in, Options{})
	lines := 0
	for range times {
		for j := range pays {
			r.AddPayable(&pays[j])
			lines++
		}
		for _, c := range in.Customers {
			rs := recs[c.ID]
			for j := range rs {
				r.AddReceivable(c.ID, &rs[j])
				lines++
			}
		}
	}

	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	b.StartTimer()
	return float64(after.HeapInuse) - float64(before.HeapInuse), lines
}
