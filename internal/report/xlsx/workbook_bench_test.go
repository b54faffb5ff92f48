package xlsx

import (
	"context"
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// wbGenDetail generates n payable lines on the fly (no receivables).
type wbGenDetail struct{ n int }

func (d wbGenDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	c := wbPayable("C2", "SKU-C", "Cloud backup", "3", "12.345678", "37.04", "USD")
	c.Deductions = []billing.Deduction{{Code: "PROMO", TotalValue: wbND("-1.69")}}
	for i := 0; i < d.n; i++ {
		c.ChargeID = "charge-" + strconv.Itoa(i)
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

func (wbGenDetail) EachReceivable(context.Context, func(string, *billing.ReceivableCharge) error) error {
	return nil
}

// BenchmarkWorkbookPayable renders a workbook with 100k payable rows (25
// columns) to io.Discard and reports rows/s.
func BenchmarkWorkbookPayable(b *testing.B) {
	const rows = 100_000
	res, info, _ := wbFixture(true)
	opts := WorkbookOptions{TmpDir: b.TempDir()}
	b.ReportAllocs()
	b.ResetTimer()
	var out countingWriter
	for i := 0; i < b.N; i++ {
		out.n = 0
		if err := RenderWorkbook(context.Background(), &out, res, wbAttrOf(res), info, wbGenDetail{rows}, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out.n)/1e6, "MB/file")
}
