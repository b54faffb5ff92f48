package xlsx

import (
	"bufio"
	"context"
	"testing"
)

// BenchmarkDetailCSV writes 100k payable (25 columns) and 100k receivable
// lines (16 columns) as CSV through a 1 MiB buffer, as a close does, and
// reports rows/s and bytes per row.
func BenchmarkDetailCSV(b *testing.B) {
	const rows = 100_000
	res, _, _ := wbFixture(true)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write func(*bufio.Writer) error
	}{
		{"payable", func(w *bufio.Writer) error { return WritePayableCSV(ctx, w, res, wbAttrOf(res), wbGenDetail{rows}) }},
		{"receivable", func(w *bufio.Writer) error { return WriteReceivableCSV(ctx, w, res, wbCloseDetail{receivables: rows}) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var out countingWriter
			bw := bufio.NewWriterSize(&out, 1<<20)
			b.ReportAllocs()
			for b.Loop() {
				out.n = 0
				if err := tc.write(bw); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(out.n)/rows, "B/row")
		})
	}
}
