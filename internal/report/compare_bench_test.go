package report

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// benchCompareSize is the number of payable lines per run of
// BenchmarkCompare: RECONCILE_BENCH_COMPARE_LINES, default 1,000,000.
func benchCompareSize(b *testing.B) int {
	if v := os.Getenv("RECONCILE_BENCH_COMPARE_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("RECONCILE_BENCH_COMPARE_LINES=%q", v)
		}
		return n
	}
	return 1_000_000
}

// feedCompareRun streams one synthetic run into a SnapshotBuilder, line by
// line (nothing is kept but what the builder keeps): customers × 100 SKUs,
// one payable and one receivable line each. changed plants month-over-month
// changes: seats (k%9 == 0), prices (k%9 == 1), a dropped SKU (k == 99), an
// added SKU ("-NEW" for k == 98) and a customer that leaves (c%50 == 7).
func feedCompareRun(b *SnapshotBuilder, customers int, p billing.Period, changed bool) {
	const perCustomer = 100
	pay := billing.PayableCharge{ChargeType: "Recurring", PeriodFrom: p.From, PeriodTo: p.To, Currency: "USD"}
	rec := billing.ReceivableCharge{ChargeType: "Recurring", PeriodFrom: p.From, PeriodTo: p.To, Currency: "USD"}
	skus := make([]string, perCustomer)
	for k := range skus {
		skus[k] = "SKU-" + strconv.Itoa(k)
	}
	for c := 0; c < customers; c++ {
		id := "cust-" + strconv.Itoa(c)
		if changed && c%50 == 7 {
			continue
		}
		pay.Tags = []billing.Tag{{Name: "CustomerId", Value: id}}
		for k := 0; k < perCustomer; k++ {
			sku := skus[k]
			if changed && k == 99 {
				continue
			}
			if changed && k == 98 {
				sku += "-NEW"
			}
			qty := int64(1 + k%7)
			price := decimal.New(int64(1000+k*13), -2)
			if changed && k%9 == 0 {
				qty++
			}
			if changed && k%9 == 1 {
				price = price.Add(decimal.New(25, -2))
			}
			q := decimal.NewNullDecimal(decimal.NewFromInt(qty))
			pay.SKU, rec.SKU = sku, sku
			pay.Quantity, rec.Quantity = q, q
			pay.SubTotal = decimal.NewNullDecimal(price.Mul(q.Decimal))
			rec.CostPriceProrated = decimal.NewNullDecimal(price.Mul(decimal.New(115, -2)))
			b.AddPayable(&pay)
			b.AddReceivable(id, &rec)
		}
	}
}

// peakHeap samples the live heap every few milliseconds until stop is
// called, which returns the peak in bytes.
func peakHeap() (stop func() uint64) {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// BenchmarkCompare reconciles two synthetic runs of N payable and N
// receivable lines each (streamed, as from the ledger) into Snapshots and
// compares them; it reports lines/s, the peak heap (sampled heap object
// bytes, garbage not yet swept included) and the live heap after a GC with
// both Snapshots and the Comparison still held (live-MiB). "periods" compares two months; "restatement" two runs of the same
// month, which also keeps every line key for the restatement check.
func BenchmarkCompare(b *testing.B) {
	n := benchCompareSize(b)
	customers := n / 100
	oct := billing.Period{From: "2026-10-01", To: "2026-10-31"}
	nov := billing.Period{From: "2026-11-01", To: "2026-11-30"}
	for _, bc := range []struct {
		name     string
		cur      billing.Period
		lineKeys bool
	}{{"periods", nov, false}, {"restatement", oct, true}} {
		b.Run(bc.name, func(b *testing.B) {
			in := Input{PayableOK: true}
			for c := 0; c < customers; c++ {
				id := "cust-" + strconv.Itoa(c)
				in.Customers = append(in.Customers, billing.Customer{ID: id, DisplayName: "Customer " + strconv.Itoa(c)})
			}
			var peak, live uint64
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				runtime.GC()
				stop := peakHeap()
				snap := func(id string, p billing.Period, changed bool) Snapshot {
					in := in
					in.RunID, in.Period = id, p
					in.Coverage = make([]Coverage, 0, customers)
					for _, c := range in.Customers {
						in.Coverage = append(in.Coverage, Coverage{CustomerID: c.ID, Status: billing.CoverageAvailable, Period: p})
					}
					sb := NewSnapshotBuilder(in, Options{}, SnapshotOptions{LineKeys: bc.lineKeys})
					feedCompareRun(sb, customers, p, changed)
					return sb.Snapshot()
				}
				base := snap("1", oct, false)
				cur := snap("2", bc.cur, true)
				c, err := Compare(base, cur)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, stop())
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				live = max(live, ms.HeapInuse)
				runtime.KeepAlive(&base)
				runtime.KeepAlive(&cur)
				if len(c.Bridge) != 1 || !c.Bridge[0].Sum().Equal(c.Bridge[0].EndMargin) || c.Bridge[0].Volume.IsZero() || c.Bridge[0].Rate.IsZero() {
					b.Fatalf("bridge %+v", c.Bridge)
				}
				if bc.lineKeys && len(c.Restatements) == 0 {
					b.Fatal("no restatements")
				}
			}
			b.ReportMetric(float64(4*n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(live)/(1<<20), "live-MiB")
		})
	}
}
