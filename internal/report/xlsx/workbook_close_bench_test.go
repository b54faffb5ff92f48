package xlsx

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// wbCloseDetail generates a close's detail on the fly: payable and
// receivable lines in the W1M proportions.
type wbCloseDetail struct{ payables, receivables int }

func (d wbCloseDetail) EachPayable(ctx context.Context, fn func(*billing.PayableCharge) error) error {
	c := wbPayable("C2", "SKU-C", "Cloud backup", "3", "12.345678", "37.04", "USD")
	c.Deductions = []billing.Deduction{{Code: "PROMO", TotalValue: wbND("-1.69")}}
	for i := 0; i < d.payables; i++ {
		c.ChargeID = "charge-" + strconv.Itoa(i)
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

func (d wbCloseDetail) EachReceivable(ctx context.Context, fn func(string, *billing.ReceivableCharge) error) error {
	r := wbReceivable("C2", "SKU-C", "Cloud backup", "3", "14.99", "USD")
	for i := 0; i < d.receivables; i++ {
		r.c.ChargeID = "rc-" + strconv.Itoa(i)
		if err := fn(r.customerID, &r.c); err != nil {
			return err
		}
	}
	return nil
}

// wbGenCommitments generates n commitment rows.
type wbGenCommitments struct{ n int }

func (g wbGenCommitments) EachCommitment(ctx context.Context, fn func(*report.CommitmentRow) error) error {
	r := report.CommitmentRow{CustomerID: "C2", SKU: "SKU-C", Product: "Cloud backup", Quantity: 5, TermType: "Annual",
		TermEnd: "2027-10-30", RenewalDate: "2027-10-31", MinimumInForce: 3, DaysToTermEnd: 364, Months: 11,
		UnitCost: wbND("12.5"), Currency: "USD", Remaining: wbND("687.5")}
	for i := 0; i < g.n; i++ {
		r.SubscriptionID = "sub-" + strconv.Itoa(i)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkWorkbookClose renders a close's workbook with 100k payable,
// 100k receivable and 78k commitment rows (W1M's proportions, a tenth of
// them) to io.Discard, and reports the process CPU time per render beside
// the wall time.
func BenchmarkWorkbookClose(b *testing.B) {
	res, info, _ := wbFixture(true)
	res.Subscriptions = &report.SubscriptionsBlock{Commitments: report.Commitments{
		Rows: wbGenCommitments{78_000}, Totals: map[string]decimal.Decimal{"USD": wbDec("687.5")},
	}}
	detail := wbCloseDetail{100_000, 100_000}
	opts := WorkbookOptions{TmpDir: b.TempDir()}
	b.ReportAllocs()
	cpu0 := wbCPUTime()
	b.ResetTimer()
	var out countingWriter
	for i := 0; i < b.N; i++ {
		out.n = 0
		if err := RenderWorkbook(context.Background(), &out, res, wbAttrOf(res), info, detail, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(wbCPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(out.n)/1e6, "MB/file")
}

// wbCPUTime is the process's user and system CPU time.
func wbCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
