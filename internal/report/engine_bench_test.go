package report

import (
	"strconv"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// benchEngineDataset is a reference-shaped dataset: customers × perCustomer
// payable lines, each with a receivable line on the same key (a 1.10–1.25
// markup), and every 10th key of a customer carrying a finding (unbilled,
// unexpected receivable, quantity mismatch, negative margin in turn).
func benchEngineDataset(customers, perCustomer int) (Input, []billing.PayableCharge, map[string][]billing.ReceivableCharge) {
	in := Input{RunID: "bench", Period: engPeriod, PayableOK: true}
	var pays []billing.PayableCharge
	recs := make(map[string][]billing.ReceivableCharge, customers)
	for c := 0; c < customers; c++ {
		id := "cust-" + strconv.Itoa(c)
		in.Customers = append(in.Customers, billing.Customer{ID: id, DisplayName: "Customer " + strconv.Itoa(c)})
		in.Coverage = append(in.Coverage, Coverage{CustomerID: id, Status: billing.CoverageAvailable, Period: engPeriod})
		for k := 0; k < perCustomer; k++ {
			sku := "SKU-" + strconv.Itoa(k)
			qty := strconv.Itoa(1 + k%7)
			cur := "USD"
			if k%5 == 0 {
				cur = "CAD"
			}
			p := engPay(id, sku, qty, strconv.Itoa(10+k)+"."+strconv.Itoa(10+k%90), cur)
			p.ChargeID = id + "-" + sku
			if k%2 == 0 { // half the lines are attributed by display name
				p.Tags = engTags("CustomerDisplayName", "Customer "+strconv.Itoa(c))
			}
			r := engRecv(sku, qty, strconv.Itoa(12+k)+".1234", cur)
			switch {
			case k%40 == 1: // unbilled
				pays = append(pays, p)
				continue
			case k%40 == 11: // unexpected receivable
				recs[id] = append(recs[id], r)
				continue
			case k%40 == 21: // quantity mismatch
				r.Quantity = engND(strconv.Itoa(2 + k%7))
			case k%40 == 31: // negative margin
				r.CostPriceProrated = engND("0.0100")
			}
			pays = append(pays, p)
			recs[id] = append(recs[id], r)
		}
	}
	return in, pays, recs
}

// BenchmarkReconcile streams 1,000 customers × 100 payable and ~100
// receivable lines (about 200k rows) through the engine and reports rows/s.
func BenchmarkReconcile(b *testing.B) {
	in, pays, recs := benchEngineDataset(1000, 100)
	rows := len(pays)
	for _, rs := range recs {
		rows += len(rs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
		res := r.Result()
		if res.PayableLines != len(pays) || len(res.Mismatches) == 0 {
			b.Fatalf("lines %d (want %d), %d findings", res.PayableLines, len(pays), len(res.Mismatches))
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReconcileLicences is BenchmarkReconcile with the close's licence
// collector fed too (every payable line with a unit price, one of a few per
// SKU) and each customer added once its lines are in, as the close does.
func BenchmarkReconcileLicences(b *testing.B) {
	in, pays, recs := benchPricedDataset(1000, 100)
	rows := len(pays)
	for _, rs := range recs {
		rows += len(rs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewReconciler(in, Options{})
		lc := NewLicenceCollector(engPeriod.To)
		r.CollectLicences(lc)
		for j := range pays {
			r.AddPayable(&pays[j])
		}
		for _, c := range in.Customers {
			rs := recs[c.ID]
			for j := range rs {
				r.AddReceivable(c.ID, &rs[j])
			}
			lc.AddCustomer(c.ID, nil)
		}
		res := r.FinalResult()
		if res.PayableLines != len(pays) || len(res.Mismatches) == 0 {
			b.Fatalf("lines %d (want %d), %d findings", res.PayableLines, len(pays), len(res.Mismatches))
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchPricedDataset is benchEngineDataset with a unit price on every
// payable line (seven prices), so that the licence check has prices to
// compare.
func benchPricedDataset(customers, perCustomer int) (Input, []billing.PayableCharge, map[string][]billing.ReceivableCharge) {
	in, pays, recs := benchEngineDataset(customers, perCustomer)
	for j := range pays {
		pays[j].NetPrice = engND(strconv.Itoa(10+j%7) + ".50")
	}
	return in, pays, recs
}
