package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/shopspring/decimal"
)

// describeReceivable is every field of a receivable line the detail shows,
// as text (nil and "" kept apart).
func describeReceivable(customerID string, c *billing.ReceivableCharge) string {
	nd := func(d decimal.NullDecimal) string {
		if !d.Valid {
			return "null"
		}
		return billing.Text(d.Decimal)
	}
	b := "nil"
	if c.IsProratable != nil {
		b = fmt.Sprint(*c.IsProratable)
	}
	return strings.Join([]string{customerID, c.ProductName, c.SKU, c.ChargeID, c.ChargeName, c.ChargeType,
		c.BillingCycleType, string(c.PeriodFrom), string(c.PeriodTo), nd(c.Quantity), nd(c.CostPrice),
		nd(c.CostPriceProrated), c.Currency, b}, "|")
}

// The encoded lines a Save hands OnSave read as the stored lines read back:
// same lines, same order (ties included), same decoded values.
func TestEncodedLinesReadAsStored(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	rng := rand.New(rand.NewPCG(7, 19))
	var cs []billing.Customer
	data := map[string]CustomerData{}
	for i := range 60 {
		c := billing.Customer{ID: fmt.Sprintf("cust-%02d", (i*37)%60), DisplayName: fmt.Sprint("n", i)}
		cs = append(cs, c)
		var recv []billing.ReceivableCharge
		for j := range 1 + i%9 {
			r := sampleReceivable(i*10 + j)
			if j%3 == 0 {
				r.ProductName = fmt.Sprintf("P \"%d\" \\ ü,\n", j)
			}
			recv = append(recv, r)
		}
		if i%5 == 0 {
			recv = append(recv, tiedReceivables()...)
		}
		rng.Shuffle(len(recv), func(a, b int) { recv[a], recv[b] = recv[b], recv[a] })
		d := CustomerData{CustomerID: c.ID, Coverage: billing.CoverageAvailable, Period: october, Receivables: recv}
		switch i % 11 {
		case 3:
			d = CustomerData{CustomerID: c.ID, Coverage: billing.CoverageFetchFailed, Error: "503"}
		case 7:
			d.Coverage, d.Period = billing.CoveragePeriodDiffers, billing.Period{From: "2026-09-01", To: "2026-09-30"}
		case 9:
			d.Receivables = nil
		}
		data[c.ID] = d
	}
	if err := s.SaveCustomers(ctx, id, cs); err != nil {
		t.Fatal(err)
	}
	w := s.NewCustomerWriter(ctx, id)
	var (
		mu      sync.Mutex
		encoded = map[string][]string{}
		each    = map[string]bool{}
	)
	w.OnSave(func(d *CustomerData, lines *EncodedLines) {
		var got []string
		var err error
		if lines.Encoded() {
			err = lines.Each(func(customerID string, c *billing.ReceivableCharge) error {
				got = append(got, describeReceivable(customerID, c))
				return nil
			})
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Errorf("Each of customer %s: %v", d.CustomerID, err)
		}
		encoded[d.CustomerID], each[d.CustomerID] = got, lines.Encoded()
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(cs); i += 4 {
				if err := w.Save(data[cs[i].ID]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	stored := map[string][]string{}
	if err := s.EachReceivableView(ctx, id, func(customerID string, c *billing.ReceivableCharge) error {
		id := strings.Clone(customerID) // lent
		stored[id] = append(stored[id], describeReceivable(customerID, c))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sqlite := dbtest.Backend() == dbtest.SQLite
	if s.EncodesLines() != sqlite {
		t.Fatalf("EncodesLines = %v on %s", s.EncodesLines(), dbtest.Backend())
	}
	lines := 0
	for _, c := range cs {
		d := data[c.ID]
		if each[c.ID] != sqlite {
			t.Fatalf("customer %s: Encoded = %v on %s", c.ID, each[c.ID], dbtest.Backend())
		}
		if !sqlite || d.Coverage != billing.CoverageAvailable {
			continue
		}
		lines += len(stored[c.ID])
		if got, want := strings.Join(encoded[c.ID], "\n"), strings.Join(stored[c.ID], "\n"); got != want {
			t.Errorf("customer %s: encoded lines read\n%s\nstored lines read\n%s", c.ID, got, want)
		}
	}
	if sqlite && lines < 250 {
		t.Fatalf("only %d lines compared", lines)
	}
}

// A line fn refuses stops Each with fn's error.
func TestEncodedLinesStopOnError(t *testing.T) {
	s := MustOpen(t)
	rows := s.encodeCustomer(1, &CustomerData{CustomerID: "c1", Coverage: billing.CoverageAvailable, Period: october,
		Receivables: []billing.ReceivableCharge{sampleReceivable(1), sampleReceivable(2)}})
	defer rows.release()
	if !s.EncodesLines() {
		// PostgreSQL's rows are COPY data: Each refuses them.
		lines := &EncodedLines{customerID: "c1", rows: rows}
		if lines.Encoded() || lines.Each(func(string, *billing.ReceivableCharge) error { return nil }) == nil {
			t.Fatal("COPY rows read as encoded lines")
		}
		return
	}
	stop := fmt.Errorf("stop")
	n := 0
	err := (&EncodedLines{customerID: "c1", rows: rows}).Each(func(string, *billing.ReceivableCharge) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("Each = %v after %d lines, want stop after 1", err, n)
	}
	var none *EncodedLines
	if none.Encoded() || (&EncodedLines{customerID: "c2"}).Encoded() {
		t.Fatal("lines without rows are Encoded")
	}
	if err := (&EncodedLines{customerID: "c2"}).Each(nil); err == nil {
		t.Fatal("Each without rows succeeded")
	}
}

// BenchmarkEncodedLinesEach reads a customer's 100 encoded lines, as the
// receivable file written during the fan-out does for every customer.
func BenchmarkEncodedLinesEach(b *testing.B) {
	s := MustOpen(b)
	if !s.EncodesLines() {
		b.Skip("encoded lines are SQLite's")
	}
	var recv []billing.ReceivableCharge
	for i := range 100 {
		recv = append(recv, sampleReceivable(i))
	}
	rows := s.encodeCustomer(1, &CustomerData{CustomerID: "cust-1", Coverage: billing.CoverageAvailable, Period: october, Receivables: recv})
	defer rows.release()
	lines := &EncodedLines{customerID: "cust-1", rows: rows}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := lines.Each(func(string, *billing.ReceivableCharge) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/line")
}
