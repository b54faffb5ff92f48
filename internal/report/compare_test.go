package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// cmpRun is a small run description for the comparison tests.
type cmpRun struct {
	id        string
	period    billing.Period
	customers []string // known customers (id = name)
	failed    []string // customers whose receivables fetch failed
	pay       []billing.PayableCharge
	rec       map[string][]billing.ReceivableCharge
}

func (r cmpRun) snapshot(t testing.TB, lineKeys bool) Snapshot {
	t.Helper()
	in := Input{RunID: r.id, Period: r.period, PayableOK: true}
	failed := map[string]bool{}
	for _, f := range r.failed {
		failed[f] = true
	}
	for _, c := range r.customers {
		in.Customers = append(in.Customers, billing.Customer{ID: c, DisplayName: "Name " + c})
		if failed[c] {
			in.Coverage = append(in.Coverage, Coverage{CustomerID: c, Status: billing.CoverageFetchFailed, Error: "boom"})
		} else {
			in.Coverage = append(in.Coverage, Coverage{CustomerID: c, Status: billing.CoverageAvailable, Period: r.period})
		}
	}
	return SnapshotOf(in, r.pay, r.rec, Options{}, SnapshotOptions{LineKeys: lineKeys})
}

var (
	sepPeriod = billing.Period{From: "2026-09-01", To: "2026-09-30"}
	octPeriod = billing.Period{From: "2026-10-01", To: "2026-10-31"}
)

func cmpPay(p billing.Period, cust, sku, qty, sub, cur string) billing.PayableCharge {
	c := engPayPeriod(cust, sku, qty, sub, cur, p.From, p.To)
	return c
}

func cmpRecv(p billing.Period, sku, qty, cpp, cur string) billing.ReceivableCharge {
	return engRecvPeriod(sku, qty, cpp, cur, p.From, p.To)
}

// checkTies asserts the contract's invariants on a comparison.
func checkTies(t testing.TB, c Comparison, base, cur Snapshot) {
	t.Helper()
	for _, b := range c.Bridge {
		if b.Sum().Cmp(b.EndMargin) != 0 {
			t.Fatalf("bridge %s does not tie: start %s + buckets = %s, end %s (%+v)", b.Currency,
				billing.Text(b.StartMargin), billing.Text(b.Sum()), billing.Text(b.EndMargin), b)
		}
	}
	totals := func(r *Result) map[string]decimal.Decimal {
		m := map[string]decimal.Decimal{}
		for _, x := range r.Totals {
			m[x.Currency] = x.Margin
		}
		return m
	}
	tb, tc := totals(&base.Result), totals(&cur.Result)
	for _, b := range c.Bridge {
		if b.StartMargin.Cmp(tb[b.Currency]) != 0 || b.EndMargin.Cmp(tc[b.Currency]) != 0 {
			t.Fatalf("bridge %s: start/end %s/%s, totals %s/%s", b.Currency, b.StartMargin, b.EndMargin, tb[b.Currency], tc[b.Currency])
		}
	}
	for _, m := range c.Customers {
		if !m.HasSplit {
			continue
		}
		split := m.NewProducts.Add(m.LostProducts).Add(m.Volume).Add(m.Rate)
		if split.Cmp(m.Change()) != 0 {
			t.Fatalf("customer %s %s: split %s, margin change %s", m.CustomerID, m.Currency, split, m.Change())
		}
		if m.Volume.Exponent() < -volumeScale && !m.Volume.Equal(m.Volume.Round(volumeScale)) {
			t.Fatalf("customer %s: volume %s has more than 2 decimals", m.CustomerID, m.Volume)
		}
	}
}

// cmpRandomRun builds a random run: a few customers, SKUs, currencies, an
// unattributed line or two, fractional quantities and prices, maybe a failed
// customer.
func cmpRandomRun(r *rand.Rand, id string, p billing.Period) cmpRun {
	run := cmpRun{id: id, period: p, rec: map[string][]billing.ReceivableCharge{}}
	ncust := 1 + r.IntN(6)
	for i := 0; i < ncust; i++ {
		run.customers = append(run.customers, fmt.Sprintf("c%d", r.IntN(8)))
	}
	curs := []string{"USD", "CAD", "eur"}
	skus := []string{"A", "B", "C", "D", "E"}
	num := func() string {
		v := decimal.New(r.Int64N(200000)-20000, -int32(r.IntN(5)))
		return billing.Text(v)
	}
	qty := func() string {
		if r.IntN(6) == 0 {
			return "0"
		}
		return billing.Text(decimal.New(1+r.Int64N(5000), -int32(r.IntN(3))))
	}
	for i, n := 0, r.IntN(25); i < n; i++ {
		cust := run.customers[r.IntN(len(run.customers))]
		if r.IntN(8) == 0 {
			cust = "" // unattributed
		}
		pp := p
		if r.IntN(4) == 0 { // a line of another (sub)period
			pp = billing.Period{From: p.From, To: p.From}
		}
		run.pay = append(run.pay, cmpPay(pp, cust, skus[r.IntN(len(skus))], qty(), num(), curs[r.IntN(3)]))
	}
	for i, n := 0, r.IntN(25); i < n; i++ {
		cust := run.customers[r.IntN(len(run.customers))]
		run.rec[cust] = append(run.rec[cust], cmpRecv(p, skus[r.IntN(len(skus))], qty(), num(), curs[r.IntN(3)]))
	}
	if r.IntN(4) == 0 {
		run.failed = []string{run.customers[r.IntN(len(run.customers))]}
	}
	return run
}

func bridgeTies(t testing.TB, s1, s2 uint64) {
	r := rand.New(rand.NewPCG(s1, s2))
	p2 := octPeriod
	if r.IntN(3) == 0 {
		p2 = sepPeriod // same period: restatements
	}
	base := cmpRandomRun(r, "1", sepPeriod).snapshot(t, true)
	cur := cmpRandomRun(r, "2", p2).snapshot(t, true)
	c, err := Compare(base, cur)
	if err != nil {
		t.Fatal(err)
	}
	checkTies(t, c, base, cur)
	// And backwards.
	c2, err := Compare(cur, base)
	if err != nil {
		t.Fatal(err)
	}
	checkTies(t, c2, cur, base)
}

// TestBridgeTies: for random pairs of runs through the real engine, every
// currency's bridge sums to the end margin exactly and every continuing
// customer's split sums to its margin change exactly.
func TestBridgeTies(t *testing.T) {
	for i := uint64(0); i < 2000; i++ {
		bridgeTies(t, i, i*7919+1)
	}
}

func FuzzBridgeTies(f *testing.F) {
	for _, s := range [][2]uint64{{0, 1}, {1, 2}, {42, 7}, {1 << 40, 99}, {12345, 67890}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64) { bridgeTies(t, s1, s2) })
}

func cmpBridge(t *testing.T, c Comparison, cur string) BridgeRow {
	t.Helper()
	for _, b := range c.Bridge {
		if b.Currency == cur {
			return b
		}
	}
	t.Fatalf("no bridge row for %s", cur)
	return BridgeRow{}
}

func cmpCustomer(t *testing.T, c Comparison, id, cur string) CustomerMovement {
	t.Helper()
	for _, m := range c.Customers {
		if m.CustomerID == id && m.Currency == cur {
			return m
		}
	}
	t.Fatalf("no customer row %s %s", id, cur)
	return CustomerMovement{}
}

func mustCompare(t *testing.T, base, cur cmpRun) (Comparison, Snapshot, Snapshot) {
	t.Helper()
	b, c := base.snapshot(t, true), cur.snapshot(t, true)
	cmp, err := Compare(b, c)
	if err != nil {
		t.Fatal(err)
	}
	checkTies(t, cmp, b, c)
	return cmp, b, c
}

// bucketString renders the non-zero buckets of a bridge row.
func bucketString(b BridgeRow) string {
	var parts []string
	for _, x := range []struct {
		n string
		v decimal.Decimal
	}{{"coverage", b.Coverage}, {"new_customers", b.NewCustomers}, {"lost_customers", b.LostCustomers},
		{"new_products", b.NewProducts}, {"lost_products", b.LostProducts}, {"volume", b.Volume},
		{"rate", b.Rate}, {"unattributed", b.Unattributed}} {
		if !x.v.IsZero() {
			parts = append(parts, x.n+"="+billing.Text(x.v))
		}
	}
	return fmt.Sprintf("%s→%s %s", billing.Text(b.StartMargin), billing.Text(b.EndMargin), strings.Join(parts, " "))
}

func TestBridgeBuckets(t *testing.T) {
	S, O := sepPeriod, octPeriod
	recs := func(kv ...any) map[string][]billing.ReceivableCharge {
		m := map[string][]billing.ReceivableCharge{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = append(m[kv[i].(string)], kv[i+1].(billing.ReceivableCharge))
		}
		return m
	}
	cases := []struct {
		name      string
		base, cur cmpRun
		want      string // bucketString of USD
		status    map[string]string
	}{
		{
			name: "new customer",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD")}, rec: recs("a", cmpRecv(S, "X", "1", "12", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a", "b"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "1", "10", "USD"), cmpPay(O, "b", "Y", "2", "20", "USD")},
				rec: recs("a", cmpRecv(O, "X", "1", "12", "USD"), "b", cmpRecv(O, "Y", "2", "15", "USD"))},
			want:   "2→12 new_customers=10",
			status: map[string]string{"a": StatusContinuing, "b": StatusNew},
		},
		{
			name: "lost customer",
			base: cmpRun{id: "1", period: S, customers: []string{"a", "b"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD"), cmpPay(S, "b", "Y", "1", "5", "USD")},
				rec: recs("a", cmpRecv(S, "X", "1", "12", "USD"), "b", cmpRecv(S, "Y", "1", "8.5", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a", "b"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "1", "10", "USD")}, rec: recs("a", cmpRecv(O, "X", "1", "12", "USD"))},
			want:   "5.5→2 lost_customers=-3.5",
			status: map[string]string{"a": StatusContinuing, "b": StatusLost},
		},
		{
			name: "coverage wins over new",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD")}, rec: recs("a", cmpRecv(S, "X", "1", "12", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"}, failed: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "1", "10", "USD")}, rec: recs("a", cmpRecv(O, "X", "1", "12", "USD"))},
			want:   "2→-10 coverage=-12",
			status: map[string]string{"a": StatusCoverage},
		},
		{
			name: "new and lost products",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD"), cmpPay(S, "a", "OLD", "1", "3", "USD")},
				rec: recs("a", cmpRecv(S, "X", "1", "12", "USD"), "a", cmpRecv(S, "OLD", "1", "4", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "1", "10", "USD"), cmpPay(O, "a", "NEW", "1", "6", "USD")},
				rec: recs("a", cmpRecv(O, "X", "1", "12", "USD"), "a", cmpRecv(O, "NEW", "1", "9", "USD"))},
			want:   "3→5 new_products=3 lost_products=-1",
			status: map[string]string{"a": StatusContinuing},
		},
		{
			name: "volume: seats added at the same prices",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "3", "30", "USD")}, rec: recs("a", cmpRecv(S, "X", "3", "12", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "5", "50", "USD")}, rec: recs("a", cmpRecv(O, "X", "5", "12", "USD"))},
			want:   "6→10 volume=4.00",
			status: map[string]string{"a": StatusContinuing},
		},
		{
			name: "rate: price change, same seats",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "3", "30", "USD")}, rec: recs("a", cmpRecv(S, "X", "3", "12", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "3", "33", "USD")}, rec: recs("a", cmpRecv(O, "X", "3", "12", "USD"))},
			want:   "6→3 rate=-3.00",
			status: map[string]string{"a": StatusContinuing},
		},
		{
			name: "volume rounded, rate takes the remainder",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "3", "10", "USD")}, rec: recs("a", cmpRecv(S, "X", "3", "4", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "4", "10", "USD")}, rec: recs("a", cmpRecv(O, "X", "4", "3", "USD"))},
			// M_base = 2, v = 1 × 2 / 3 = 0.67, rate = (2 − 2) − 0.67.
			want:   "2→2 volume=0.67 rate=-0.67",
			status: map[string]string{"a": StatusContinuing},
		},
		{
			name: "unattributed",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD"), cmpPay(S, "", "Z", "1", "4", "USD")},
				rec: recs("a", cmpRecv(S, "X", "1", "12", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "1", "10", "USD"), cmpPay(O, "", "Z", "1", "7", "USD")},
				rec: recs("a", cmpRecv(O, "X", "1", "12", "USD"))},
			want:   "-2→-5 unattributed=-3",
			status: map[string]string{"a": StatusContinuing},
		},
		{
			name: "zero base quantity: no volume",
			base: cmpRun{id: "1", period: S, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(S, "a", "X", "0", "0", "USD")}, rec: recs("a", cmpRecv(S, "X", "1", "5", "USD"))},
			cur: cmpRun{id: "2", period: O, customers: []string{"a"},
				pay: []billing.PayableCharge{cmpPay(O, "a", "X", "2", "4", "USD")}, rec: recs("a", cmpRecv(O, "X", "2", "5", "USD"))},
			want:   "5→6 rate=1",
			status: map[string]string{"a": StatusContinuing},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := mustCompare(t, tc.base, tc.cur)
			if got := bucketString(cmpBridge(t, c, "USD")); got != tc.want {
				t.Errorf("bridge USD = %s, want %s", got, tc.want)
			}
			for id, st := range tc.status {
				if m := cmpCustomer(t, c, id, "USD"); m.Status != st {
					t.Errorf("customer %s status %s, want %s", id, m.Status, st)
				}
			}
		})
	}
}

func TestCompareCurrencyOnlyInOneRun(t *testing.T) {
	base := cmpRun{id: "1", period: sepPeriod, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(sepPeriod, "a", "X", "1", "10", "CAD")}}
	cur := cmpRun{id: "2", period: octPeriod, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(octPeriod, "a", "X", "1", "10", "USD")}}
	c, _, _ := mustCompare(t, base, cur)
	if got := bucketString(cmpBridge(t, c, "CAD")); got != "-10→0 lost_customers=10" {
		t.Errorf("CAD: %s", got)
	}
	if got := bucketString(cmpBridge(t, c, "USD")); got != "0→-10 new_customers=-10" {
		t.Errorf("USD: %s", got)
	}
}

func TestCompareFindingsMovement(t *testing.T) {
	base := cmpRun{id: "1", period: sepPeriod, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(sepPeriod, "a", "X", "1", "10", "USD"), cmpPay(sepPeriod, "a", "Y", "1", "5", "USD"),
			cmpPay(sepPeriod, "", "Z", "1", "4", "USD")}}
	cur := cmpRun{id: "2", period: octPeriod, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(octPeriod, "a", "X", "1", "11", "USD"), cmpPay(octPeriod, "", "Z", "1", "4", "USD"),
			cmpPay(octPeriod, "", "Z", "2", "8", "USD")},
		rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(octPeriod, "W", "1", "3", "USD")}}}
	c, _, _ := mustCompare(t, base, cur)
	var got []string
	for _, f := range c.Findings {
		got = append(got, fmt.Sprintf("%s %s %s/%s/%s %d→%d %s→%s changed=%v", f.Status, f.Key.Kind, f.Key.CustomerID, f.Key.SKU,
			f.Key.ChargeType, f.CountBase, f.CountCurrent, billing.Text(f.AmountBase), billing.Text(f.AmountCurrent), f.Changed()))
		if len(f.Fingerprint) != 16 || f.Fingerprint != f.Key.String() {
			t.Errorf("fingerprint %q", f.Fingerprint)
		}
	}
	want := []string{
		"persisting unattributed /Z/no_customer_tag 1→2 -4→-12 changed=true",
		"persisting unbilled a/X/Recurring 1→1 -10→-11 changed=true",
		"resolved unbilled a/Y/Recurring 1→0 -5→0 changed=false",
		"new unexpected_receivable a/W/Recurring 0→1 0→3 changed=false",
	}
	engCheck(t, "findings", got, want)
}

func TestFingerprint(t *testing.T) {
	f1 := Finding{Kind: KindUnbilled, CustomerID: "a", SKU: "X", ChargeType: "Recurring", Currency: "USD",
		PeriodFrom: "2026-09-01", PeriodTo: "2026-09-30", PayableAmount: engDec("1")}
	f2 := f1
	f2.PeriodFrom, f2.PeriodTo, f2.PayableAmount = "2026-10-01", "2026-10-31", engDec("2")
	if Fingerprint(&f1) != Fingerprint(&f2) {
		t.Error("line periods and amounts changed the fingerprint")
	}
	// The documented encoding, pinned.
	// sha256("fp1" + "8:unbilled;1:a;1:X;9:Recurring;3:USD;")[:8], hex.
	if got, want := Fingerprint(&f1), "d063a750c8f567d7"; got != want {
		t.Errorf("fingerprint changed: %s, want %s (ids in exceptions registers would break)", got, want)
	}
	u := Finding{Kind: KindUnattributed, SKU: "X", ChargeType: "Recurring", Reason: ReasonUnknownCustomer, Currency: "USD"}
	if k := FingerprintOf(&u); k != (FingerprintKey{Kind: KindUnattributed, SKU: "X", ChargeType: ReasonUnknownCustomer, Currency: "USD"}) {
		t.Errorf("unattributed key %+v", k)
	}
	m := Finding{Kind: KindMissingReceivables, CustomerID: "a", SKU: "X", ChargeType: "Recurring", Currency: "USD", Reason: "fetch_failed"}
	if k := FingerprintOf(&m); k != (FingerprintKey{Kind: KindMissingReceivables, CustomerID: "a", Currency: "USD"}) {
		t.Errorf("missing key %+v", k)
	}
	// Length prefixes: moving text between fields changes the id.
	a := FingerprintKey{Kind: "k", CustomerID: "ab", SKU: "c"}
	b := FingerprintKey{Kind: "k", CustomerID: "a", SKU: "bc"}
	if a.String() == b.String() {
		t.Error("ambiguous fingerprint encoding")
	}
}

func TestRestatements(t *testing.T) {
	S := sepPeriod
	base := cmpRun{id: "1", period: S, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD"), cmpPay(S, "a", "Y", "2", "5", "USD"),
			cmpPay(S, "a", "K", "1", "1.50", "USD")},
		rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(S, "X", "1", "12", "USD")}}}
	cur := cmpRun{id: "2", period: S, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(S, "a", "X", "1", "10", "USD"), cmpPay(S, "a", "Y", "3", "7.5", "USD"),
			cmpPay(S, "a", "N", "1", "2", "USD"), cmpPay(S, "a", "K", "1", "1.5", "USD")},
		rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(S, "X", "1", "12", "USD")}}}
	c, _, _ := mustCompare(t, base, cur)
	if !c.SamePeriod || c.BaseIsNewer {
		t.Errorf("same period %v, base newer %v", c.SamePeriod, c.BaseIsNewer)
	}
	var got []string
	for _, r := range c.Restatements {
		got = append(got, fmt.Sprintf("%s/%s %v/%v pay %s→%s", r.CustomerID, r.SKU, r.InBase, r.InCurrent,
			billing.Text(r.PayableAmountBase), billing.Text(r.PayableAmountCurrent)))
	}
	// K: 1.50 and 1.5 are the same amount, not a restatement.
	engCheck(t, "restatements", got, []string{"a/N false/true pay 0→2", "a/Y true/true pay 5→7.5"})

	back, err := Compare(cur.snapshot(t, true), base.snapshot(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if !back.BaseIsNewer {
		t.Error("run 2 as base of run 1: base_is_newer should be set")
	}
	if _, err := Compare(base.snapshot(t, false), cur.snapshot(t, true)); err == nil {
		t.Error("same period without line keys: want an error")
	}
	other := cur
	other.period = octPeriod
	for i := range other.pay {
		other.pay[i].PeriodFrom, other.pay[i].PeriodTo = octPeriod.From, octPeriod.To
	}
	d, err := Compare(base.snapshot(t, false), other.snapshot(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Restatements) != 0 || d.SamePeriod {
		t.Errorf("different periods: %d restatements", len(d.Restatements))
	}
}

func TestCompareIncomplete(t *testing.T) {
	base := cmpRun{id: "1", period: sepPeriod, customers: []string{"a", "b"}, failed: []string{"b"},
		pay: []billing.PayableCharge{cmpPay(sepPeriod, "b", "X", "1", "10", "USD")}}
	cur := cmpRun{id: "2", period: octPeriod, customers: []string{"a", "b"},
		pay: []billing.PayableCharge{cmpPay(octPeriod, "b", "X", "1", "10", "USD")},
		rec: map[string][]billing.ReceivableCharge{"b": {cmpRecv(octPeriod, "X", "1", "11", "USD")}}}
	c, _, _ := mustCompare(t, base, cur)
	if c.Complete || len(c.Incomplete) != 1 || c.Incomplete[0].Side != "base" || len(c.Incomplete[0].Customers) != 1 ||
		c.Incomplete[0].Customers[0].CustomerID != "b" {
		t.Fatalf("complete %v, incomplete %+v", c.Complete, c.Incomplete)
	}
	if got := bucketString(cmpBridge(t, c, "USD")); got != "-10→1 coverage=11" {
		t.Errorf("bridge %s", got)
	}
	var buf bytes.Buffer
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v["complete"] != false {
		t.Errorf("json complete = %v", v["complete"])
	}
}

func TestCompareToleranceMustMatch(t *testing.T) {
	a := cmpRun{id: "1", period: sepPeriod}.snapshot(t, false)
	b := cmpRun{id: "2", period: octPeriod}.snapshot(t, false)
	b.Result.Tolerance = engDec("0.05")
	if _, err := Compare(a, b); err == nil || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("err = %v", err)
	}
}

func TestCompareJSONDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	br, cr := cmpRandomRun(r, "7", sepPeriod), cmpRandomRun(r, "8", sepPeriod)
	var first []byte
	for i := 0; i < 5; i++ {
		// Feed the lines in another order each time: the bytes must not move.
		rr := rand.New(rand.NewPCG(uint64(i), 3))
		for _, run := range []*cmpRun{&br, &cr} {
			rr.Shuffle(len(run.pay), func(a, b int) { run.pay[a], run.pay[b] = run.pay[b], run.pay[a] })
			for id := range run.rec {
				l := run.rec[id]
				rr.Shuffle(len(l), func(a, b int) { l[a], l[b] = l[b], l[a] })
			}
		}
		c, err := Compare(br.snapshot(t, true), cr.snapshot(t, true))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = buf.Bytes()
			continue
		}
		if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("comparison JSON differs between runs:\n%s\n---\n%s", first, buf.Bytes())
		}
	}
}

func TestCompareJSONShape(t *testing.T) {
	c, _, _ := mustCompare(t,
		cmpRun{id: "1", period: sepPeriod, customers: []string{"a", "b"},
			pay: []billing.PayableCharge{cmpPay(sepPeriod, "a", "X", "1", "10.00", "USD")},
			rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(sepPeriod, "X", "1", "12.50", "USD")}}},
		cmpRun{id: "2", period: octPeriod, customers: []string{"a", "b"},
			pay: []billing.PayableCharge{cmpPay(octPeriod, "a", "X", "2", "20.00", "USD"), cmpPay(octPeriod, "b", "Y", "1", "3", "USD")},
			rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(octPeriod, "X", "2", "12.50", "USD")}}})
	var buf bytes.Buffer
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`"base": {` + "\n" + `    "run_id": "1",` + "\n" + `    "period": {` + "\n" + `      "from": "2026-09-01",`,
		`"start_margin": "2.50"`, `"volume": "2.50"`, `"new_customers": "-3"`, `"end_margin": "2.00"`,
		`"status": "new",` + "\n" + `      "payable_base": "0",`,
		`"new_products": "",`, // split columns empty for status new
		`"restatements": []`,
		`"fingerprint": "`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %q:\n%s", want, out)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"base", "current", "complete", "bridge", "customers", "products", "findings", "restatements"} {
		if _, ok := v[k]; !ok {
			t.Errorf("JSON lacks key %s", k)
		}
	}
}
