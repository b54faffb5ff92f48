package job_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
	"github.com/msp-reconcile/reconcile/internal/report/xlsx"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// BenchmarkDetail reads a realistic run (the simulator's 1,000 customers and
// about 100k payable and 100k receivable lines, fetched into a SQLite
// ledger in a temporary folder) back from the ledger into the workbook
// (xlsx: the whole workbook, detail sheets included, to a counting
// writer) and into the two detail CSV files (csv), and reports per detail
// line the wall time, the process CPU (both producers, the compressors and
// the garbage collector) and the allocations.
//
//	RECONCILE_TEST_BACKENDS=sqlite go test ./internal/job -run '^$' -bench Detail -count 5
func BenchmarkDetail(b *testing.B) {
	dbtest.SQLiteOnly(b)
	e := newEnv(b, sherwebsim.Config{Seed: 20261001, Customers: 1000, Charges: 100_000})
	ctx := context.Background()
	run, err := job.Fetch(ctx, e.client(b, ctx), e.store, job.FetchOptions{
		Date: "2026-10-01", BaseURL: "http://simulator.test", ToolVersion: "bench", Concurrency: 4, Now: fixedNow,
	})
	if err != nil && !errors.Is(err, job.ErrIncomplete) {
		b.Fatal(err)
	}
	rec, err := job.Reconcile(ctx, e.store, run, report.Options{})
	if err != nil {
		b.Fatal(err)
	}
	lines := rec.Result.PayableLines + rec.Result.ReceivableLines
	b.Logf("%d payable + %d receivable lines", rec.Result.PayableLines, rec.Result.ReceivableLines)
	measure := func(b *testing.B, render func() error) {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		cpu0 := processCPU(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := render(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cpu := processCPU(b) - cpu0
		runtime.ReadMemStats(&m1)
		n := float64(b.N) * float64(lines)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/line")
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n, "allocs/line")
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n, "B/line")
	}
	b.Run("xlsx", func(b *testing.B) {
		opts := xlsx.WorkbookOptions{TmpDir: b.TempDir()}
		measure(b, func() error {
			return xlsx.RenderWorkbook(ctx, io.Discard, rec.Result, rec.Attributor, rec.Info, rec.Detail, opts)
		})
	})
	b.Run("csv", func(b *testing.B) {
		measure(b, func() error {
			if err := xlsx.WritePayableCSV(ctx, io.Discard, rec.Result, rec.Attributor, rec.Detail); err != nil {
				return err
			}
			return xlsx.WriteReceivableCSV(ctx, io.Discard, rec.Result, rec.Detail)
		})
	})
}

// processCPU is the process's user + system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
