package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

// sumCases are decimal texts that exercise the int64 fast path and every way
// out of it: 18/19/30-digit coefficients, int64 edges, exponents below
// int8's range (130 decimals), positive exponents, zeros with scale,
// negatives.
var sumCases = []string{
	"0", "0.00", "-0.000", "1", "-1", "0.01", "12.3456", "1E+3", "-2.5E+2", "1E+18", "1E+19",
	"999999999999999999", "-999999999999999999", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "123456789012345678901234567890", "-98765432109876543210.98765432109876543210",
	"0.0000000001", "0.12345678901234567", "-0.000000000000000001",
	"1." + strings.Repeat("0", 129) + "1", "-3E-130", "5E-128",
	"4611686018427387904", "-4611686018427387904", "3037000499.97605", "0.5",
}

func TestFixedAddMatchesDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]decimal.Decimal, 0, len(sumCases)+200)
	for _, s := range sumCases {
		vals = append(vals, engDec(s))
	}
	for i := 0; i < 200; i++ { // random ones, mostly small
		vals = append(vals, decimal.New(rng.Int64N(1<<uint(1+rng.IntN(62)))-rng.Int64N(1000), -int32(rng.IntN(25))))
	}
	checked := 0
	for _, a := range vals {
		for _, b := range vals {
			want := a.Add(b)
			va, vb := valueOf(a), valueOf(b)
			if va.fixed && vb.fixed {
				if c, e, ok := fixedAdd(va.coef, va.exp, vb.coef, vb.exp); ok {
					checked++
					if got := decimal.New(c, e); billing.Text(got) != billing.Text(want) {
						t.Fatalf("fixedAdd(%s, %s) = %s, want %s", billing.Text(a), billing.Text(b), billing.Text(got), billing.Text(want))
					}
				}
				if n, ok := fixedCmp(va.coef, va.exp, vb.coef, vb.exp); ok && n != a.Cmp(b) {
					t.Fatalf("fixedCmp(%s, %s) = %d, want %d", billing.Text(a), billing.Text(b), n, a.Cmp(b))
				}
			}
			// The product, fixed or not, equals Decimal.Mul in value and scale.
			if got, want := mulValue(a, b).decimal(), a.Mul(b); billing.Text(got) != billing.Text(want) {
				t.Fatalf("mulValue(%s, %s) = %s, want %s", billing.Text(a), billing.Text(b), billing.Text(got), billing.Text(want))
			}
			// A sum through the accumulator, fast path or not.
			var s sum
			s.add(va)
			s.add(vb)
			if got, want := s.decimal(), (decimal.Decimal{}).Add(a).Add(b); billing.Text(got) != billing.Text(want) {
				t.Fatalf("sum(%s, %s) = %s, want %s", billing.Text(a), billing.Text(b), billing.Text(got), billing.Text(want))
			}
		}
	}
	if checked < len(vals)*len(vals)/2 {
		t.Errorf("only %d of %d pairs took the fast path", checked, len(vals)*len(vals))
	}
	if _, _, ok := fixedAdd(math.MaxInt64, 0, 1, 0); ok {
		t.Error("fixedAdd(MaxInt64, 1) did not report the overflow")
	}
	if _, _, ok := fixedAdd(math.MinInt64+1, 0, -2, 0); ok {
		t.Error("fixedAdd(MinInt64+1, -2) did not report the overflow")
	}
	if _, _, ok := fixedAdd(1, 0, 1, -19); ok {
		t.Error("fixedAdd(1, 1E-19) did not report the overflow of 10^19")
	}
}

// refSums is an independent per-key model of the rules for a simple dataset
// (every payable tagged with a known, available customer id): plain
// decimal.Decimal sums keyed by text.
type refSums struct{ payQty, recQty, pay, rec decimal.Decimal }

func refKey(cust, sku, cur string) string { return cust + "|" + sku + "|" + cur }

// TestReconcileExactFallback feeds sums that leave the int64 fast path
// (coefficients of 20–40 digits, sums that overflow int64 only when added,
// 10+ and 130 decimals, products of quantity × price that overflow) mixed
// with ordinary values, and checks every amount against plain decimal
// arithmetic, scale included.
func TestReconcileExactFallback(t *testing.T) {
	huge := []string{
		"9000000000000000000.00", "5000000000000000000", "123456789012345678901234567890.12",
		"0.0000000001234", "1.23456789012", "-0.00000000000000000001",
		"7." + strings.Repeat("0", 130) + "7", "4611686018427387904", "-4611686018427387904",
	}
	ordinary := []string{"10.00", "0.5", "12.3456", "-3.25", "100", "0"}
	rng := rand.New(rand.NewPCG(42, 7))
	pickV := func() string {
		if rng.IntN(10) == 0 {
			return huge[rng.IntN(len(huge))]
		}
		return ordinary[rng.IntN(len(ordinary))]
	}
	custs := []string{"A", "B", "C"}
	var skus []string
	for i := 0; i < 30; i++ {
		skus = append(skus, fmt.Sprintf("S%d", i))
	}
	curs := []string{"USD", "CAD"}
	in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers(custs...), Coverage: engAvailable(custs...), PayableOK: true}

	ref := map[string]*refSums{}
	get := func(k string) *refSums {
		if ref[k] == nil {
			ref[k] = &refSums{}
		}
		return ref[k]
	}
	var pays []billing.PayableCharge
	recs := map[string][]billing.ReceivableCharge{}
	for i := 0; i < 400; i++ {
		cust, sku, cur := custs[rng.IntN(len(custs))], skus[rng.IntN(len(skus))], curs[rng.IntN(len(curs))]
		qty, amt := pickV(), pickV()
		if rng.IntN(2) == 0 {
			pays = append(pays, engPay(cust, sku, qty, amt, cur))
			s := get(refKey(cust, sku, cur))
			s.payQty, s.pay = s.payQty.Add(engDec(qty)), s.pay.Add(engDec(amt))
		} else {
			recs[cust] = append(recs[cust], engRecv(sku, qty, amt, cur))
			s := get(refKey(cust, sku, cur))
			s.recQty, s.rec = s.recQty.Add(engDec(qty)), s.rec.Add(engDec(qty).Mul(engDec(amt)))
		}
	}
	r := NewReconciler(in, Options{})
	for i := range pays {
		r.AddPayable(&pays[i])
	}
	for _, id := range custs {
		for i := range recs[id] {
			r.AddReceivable(id, &recs[id][i])
		}
	}
	if len(r.bigLines) == 0 || len(r.bigLines) == r.lineIDs.len() {
		t.Fatalf("%d of %d keys fell back to decimals: the test does not cover both paths", len(r.bigLines), r.lineIDs.len())
	}
	res := r.Result()

	// Expected findings from the model.
	negTol := engDec("-0.01")
	var want []string
	add := func(kind, k string, s *refSums) {
		p := strings.Split(k, "|")
		want = append(want, engFindingString(Finding{
			Kind: kind, CustomerID: p[0], SKU: p[1], ChargeType: "Recurring", PeriodFrom: engPeriod.From, PeriodTo: engPeriod.To,
			Currency: p[2], PayableQty: s.payQty, ReceivableQty: s.recQty, PayableAmount: s.pay, ReceivableAmount: s.rec,
		}))
	}
	for k, s := range ref {
		hasPay := slices.ContainsFunc(pays, func(c billing.PayableCharge) bool {
			return refKey(c.Tags[0].Value, c.SKU, c.Currency) == k
		})
		p := strings.Split(k, "|")
		hasRec := slices.ContainsFunc(recs[p[0]], func(c billing.ReceivableCharge) bool { return refKey(p[0], c.SKU, c.Currency) == k })
		switch {
		case !hasRec:
			add(KindUnbilled, k, s)
		case !hasPay:
			add(KindUnexpectedReceivable, k, s)
		default:
			if s.payQty.Cmp(s.recQty) != 0 {
				add(KindQuantityMismatch, k, s)
			}
			if s.rec.Sub(s.pay).Cmp(negTol) < 0 {
				add(KindNegativeMargin, k, s)
			}
		}
	}
	got := engFindings(res)
	slices.Sort(got)
	slices.Sort(want)
	engCheck(t, "findings", got, want)

	// Customer, product and currency sums from the same model.
	type agg struct{ payQty, recQty, pay, rec decimal.Decimal }
	cust, prod, tot := map[string]*agg{}, map[string]*agg{}, map[string]*agg{}
	for k, s := range ref {
		p := strings.Split(k, "|")
		for _, m := range []struct {
			to  map[string]*agg
			key string
		}{{cust, p[0] + "|" + p[2]}, {prod, p[1] + "|" + p[2]}, {tot, p[2]}} {
			if m.to[m.key] == nil {
				m.to[m.key] = &agg{}
			}
			a := m.to[m.key]
			a.payQty, a.recQty, a.pay, a.rec = a.payQty.Add(s.payQty), a.recQty.Add(s.recQty), a.pay.Add(s.pay), a.rec.Add(s.rec)
		}
	}
	for _, c := range res.Customers {
		a := cust[c.CustomerID+"|"+c.Currency]
		if a == nil || billing.Text(c.Payable) != billing.Text(a.pay) || billing.Text(c.Receivable) != billing.Text(a.rec) {
			t.Errorf("customer %s %s: %s / %s, want %v", c.CustomerID, c.Currency, billing.Text(c.Payable), billing.Text(c.Receivable), a)
		}
	}
	for _, p := range res.Products {
		a := prod[p.SKU+"|"+p.Currency]
		if a == nil || billing.Text(p.Payable) != billing.Text(a.pay) || billing.Text(p.Receivable) != billing.Text(a.rec) ||
			billing.Text(p.PayableQty) != billing.Text(a.payQty) || billing.Text(p.ReceivableQty) != billing.Text(a.recQty) {
			t.Errorf("product %s %s differs from the model", p.SKU, p.Currency)
		}
	}
	for _, c := range res.Totals {
		a := tot[c.Currency]
		if a == nil || billing.Text(c.Payable) != billing.Text(a.pay) || billing.Text(c.Receivable) != billing.Text(a.rec) {
			t.Errorf("total %s: %s / %s, want %s / %s", c.Currency, billing.Text(c.Payable), billing.Text(c.Receivable),
				billing.Text(a.pay), billing.Text(a.rec))
		}
	}
	if len(res.Customers) != len(cust) || len(res.Products) != len(prod) || len(res.Totals) != len(tot) {
		t.Errorf("%d/%d/%d rows, want %d/%d/%d", len(res.Customers), len(res.Products), len(res.Totals), len(cust), len(prod), len(tot))
	}
}

// TestReconcileFallbackKeepsScale pins exact texts: a sum that overflows
// int64, a sum with 130 decimals, and a subtotal check on huge numbers.
func TestReconcileFallbackKeepsScale(t *testing.T) {
	tiny := "0." + strings.Repeat("0", 129) + "1" // 1E-130: exponent below int8
	withNet := func(qty, npp, sub string) billing.PayableCharge {
		c := engPay("A", "S3", qty, sub, "USD")
		c.NetPriceProrated = engND(npp)
		return c
	}
	tc := engCase{
		customers: engCustomers("A"), coverage: engAvailable("A"),
		payables: []billing.PayableCharge{
			engPay("A", "S1", "1", "9000000000000000000.00", "USD"),
			engPay("A", "S1", "1", "9000000000000000000.00", "USD"),
			engPay("A", "S2", "1", "1.5", "USD"),
			engPay("A", "S2", "1", tiny, "USD"),
			engPay("A", "S4", "1", tiny, "USD"),                              // first value of its key
			withNet("3", "3074457345618258602.34", "9223372036854775807.02"), // off by 0: fine
			withNet("3", "3074457345618258602.34", "9223372036854775807.04"), // off by 0.02: flagged
		},
		receivables: map[string][]billing.ReceivableCharge{"A": {
			engRecv("S1", "4000000000", "4500000000.000", "USD"),
			engRecv("S2", "2", "0.70", "USD"),
		}},
		wantComplete: true,
		wantFindings: []string{
			"unbilled|A|S3|Recurring|" + oct + "|USD|q 6/0|a 18446744073709551614.06/0|",
			"unbilled|A|S4|Recurring|" + oct + "|USD|q 1/0|a " + tiny + "/0|",
			"quantity_mismatch|A|S1|Recurring|" + oct + "|USD|q 2/4000000000|a 18000000000000000000.00/18000000000000000000.000|",
			"negative_margin|A|S2|Recurring|" + oct + "|USD|q 2/2|a 1.5" + strings.Repeat("0", 128) + "1/1.40|",
			"subtotal_identity|A|S3|Recurring|" + oct + "|USD|q 3/0|a 9223372036854775807.04/0|subTotal 9223372036854775807.04 differs from quantity × netPriceProrated = 9223372036854775807.02 by 0.02",
		},
		wantTotals: []string{"USD|36446744073709551615.56" + strings.Repeat("0", 127) + "2|18000000000000000001.400|-18446744073709551614.16" + strings.Repeat("0", 127) + "2"},
	}
	tc.run(t)
}

// TestAddAllocationFree checks that counting a line on an existing key does
// not allocate on the fast path.
func TestAddAllocationFree(t *testing.T) {
	in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers("A"), Coverage: engAvailable("A"), PayableOK: true}
	r := NewReconciler(in, Options{})
	p := engPay("A", "S1", "2", "10.00", "USD")
	p.NetPriceProrated = engND("5.00")
	q := engRecv("S1", "2", "5.50", "USD")
	r.AddPayable(&p)
	r.AddReceivable("A", &q)
	if n := testing.AllocsPerRun(100, func() { r.AddPayable(&p) }); n != 0 {
		t.Errorf("AddPayable: %.1f allocations per line, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.AddReceivable("A", &q) }); n != 0 {
		t.Errorf("AddReceivable: %.1f allocations per line, want 0", n)
	}
	f := r.Result().Mismatches
	if len(f) != 0 {
		t.Errorf("findings: %v", fmt.Sprint(engFindings(r.Result())))
	}
}

// TestLineAggScaleEdge pins the edge of lineAgg's 7-bit scale: a key whose
// sums have 127 decimals stays on the fast path, one with 128 moves to
// decimals; both keep the exact text, and the flags sharing the scale bytes
// are unharmed.
func TestLineAggScaleEdge(t *testing.T) {
	for _, c := range []struct {
		places int
		big    bool
	}{{0, false}, {2, false}, {127, false}, {128, true}, {130, true}} {
		amt := "1"
		if c.places > 0 {
			amt = "0." + strings.Repeat("0", c.places-1) + "1"
		}
		in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers("A"), Coverage: engAvailable("A"), PayableOK: true}
		r := NewReconciler(in, Options{})
		p := engPay("A", "S1", "1", amt, "USD")
		r.AddPayable(&p)
		r.AddPayable(&p)
		l := r.lines.at(0)
		if l.has(lineBig) != c.big || !l.has(lineHasPay) || l.has(lineHasRec) {
			t.Errorf("%d places: big %v pay %v rec %v, want big %v, pay only", c.places, l.has(lineBig), l.has(lineHasPay), l.has(lineHasRec), c.big)
		}
		want := engDec(amt).Add(engDec(amt))
		if got := r.lineSums(0, l); billing.Text(got[slotPay]) != billing.Text(want) || billing.Text(got[slotPayQty]) != "2" {
			t.Errorf("%d places: sums %s, %s, want 2, %s", c.places, billing.Text(got[slotPayQty]), billing.Text(got[slotPay]), billing.Text(want))
		}
		q := engRecv("S1", "2", amt, "USD")
		r.AddReceivable("A", &q)
		if !l.has(lineHasRec) || l.has(lineBig) != c.big {
			t.Errorf("%d places: after the receivable: rec %v big %v", c.places, l.has(lineHasRec), l.has(lineBig))
		}
		if got := r.lineSums(0, l); billing.Text(got[slotRec]) != billing.Text(engDec("2").Mul(engDec(amt))) {
			t.Errorf("%d places: receivable sum %s", c.places, billing.Text(got[slotRec]))
		}
	}
}

// TestFinalResultEqualsResult: FinalResult frees the per-key state chunk by
// chunk while it builds the findings; across several chunks, with keys on
// the decimal fallback among them, it must give the Result byte for byte.
func TestFinalResultEqualsResult(t *testing.T) {
	feed := func() *Reconciler {
		in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers("A", "B"), Coverage: engAvailable("A", "B"), PayableOK: true}
		r := NewReconciler(in, Options{})
		tiny := "0." + strings.Repeat("0", 129) + "1"
		for i := range 3*lineChunkSize + 17 {
			sku := fmt.Sprintf("S%05d", i)
			amt := fmt.Sprintf("%d.%02d", i%97, i%100)
			if i%500 == 7 {
				amt = tiny // a key on the decimal fallback
			}
			p := engPay("A", sku, "1", amt, "USD")
			r.AddPayable(&p)
			if i%3 != 0 {
				q := engRecv(sku, fmt.Sprint(1+i%2), amt, "USD")
				r.AddReceivable("A", &q)
			}
		}
		q := engRecv("ONLY-REC", "1", "5.00", "USD")
		r.AddReceivable("B", &q)
		return r
	}
	want := engJSON(t, feed().Result())
	r := feed()
	if len(r.bigLines) == 0 {
		t.Fatal("no key on the decimal fallback: the test does not cover it")
	}
	got := engJSON(t, r.FinalResult())
	if got != want {
		t.Errorf("FinalResult differs from Result")
	}
	if r.lines.chunks != nil || r.lineIDs.keys != nil || r.bigLines != nil {
		t.Error("FinalResult kept the per-key state")
	}
}

// TestKeyFindingsCountsTheKeyFindings: the count result sizes the
// findings' slice with is the number of line-key findings it builds, with
// keys of every kind, two kinds on one key, a key on the decimal fallback,
// a customer whose keys are left out (not available) and per-line and
// customer findings beside them; the slice is allocated once.
func TestKeyFindingsCountsTheKeyFindings(t *testing.T) {
	feed := func() *Reconciler {
		in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers("A", "B", "C"), Coverage: engAvailable("A", "B"), PayableOK: true}
		r := NewReconciler(in, Options{})
		tiny := "0." + strings.Repeat("0", 129) + "1"
		for i := range 2*lineChunkSize + 5 {
			sku := fmt.Sprintf("S%05d", i)
			amt := fmt.Sprintf("%d.%02d", 10+i%97, i%100)
			if i%400 == 3 {
				amt = tiny
			}
			p := engPay("A", sku, "1", amt, "USD")
			r.AddPayable(&p)
			pc := engPay("C", sku, "1", amt, "USD") // C is not available: no key findings
			r.AddPayable(&pc)
			switch i % 4 {
			case 1: // same quantity, same amount: no finding
				q := engRecv(sku, "1", amt, "USD")
				r.AddReceivable("A", &q)
			case 2: // quantity mismatch and negative margin
				q := engRecv(sku, "2", "0.01", "USD")
				r.AddReceivable("A", &q)
			case 3: // receivable only
				q := engRecv("R"+sku, "1", "1.00", "USD")
				r.AddReceivable("B", &q)
			}
		}
		u := engPay("", "U", "1", "1.00", "USD") // unattributed: a per-line finding
		r.AddPayable(&u)
		return r
	}
	for name, result := range map[string]func(*Reconciler) *Result{
		"Result": (*Reconciler).Result, "FinalResult": (*Reconciler).FinalResult,
	} {
		r := feed()
		count := r.keyFindings()
		res := result(r)
		kinds := map[string]int{}
		for _, f := range res.Mismatches {
			kinds[f.Kind]++
		}
		for _, k := range []string{KindUnbilled, KindUnexpectedReceivable, KindQuantityMismatch, KindNegativeMargin, KindUnattributed, KindMissingReceivables} {
			if kinds[k] == 0 {
				t.Fatalf("%s: no %s finding (%v): the test does not cover it", name, k, kinds)
			}
		}
		keyKinds := kinds[KindUnbilled] + kinds[KindUnexpectedReceivable] + kinds[KindQuantityMismatch] + kinds[KindNegativeMargin]
		if count != keyKinds {
			t.Errorf("%s: keyFindings counted %d, result built %d key findings (%v)", name, count, keyKinds, kinds)
		}
		if extra := cap(res.Mismatches) - len(res.Mismatches); extra > len(res.Mismatches)/64 {
			t.Errorf("%s: %d findings in a slice of capacity %d: grown by append, not allocated at its size", name, len(res.Mismatches), cap(res.Mismatches))
		}
	}
}

// TestLineAggQuantityWidth pins the edge of lineAgg's 4-byte quantity
// coefficients: a quantity sum whose coefficient fits an int32 stays on the
// fast path, one that does not (however it got there: one large quantity,
// many decimals, a sum of two that fit) moves its key to decimals; the sums
// and the findings are exact either way.
func TestLineAggQuantityWidth(t *testing.T) {
	for _, c := range []struct {
		qty  string // added twice on the payable side, once on the receivable side
		big  bool
		want string // the payable quantity sum
	}{
		{"1", false, "2"},
		{"1073741823", false, "2147483646"},   // 2 × (2³⁰ − 1): the largest int32 sum
		{"1073741824", true, "2147483648"},    // 2³¹: one past it
		{"3000000000", true, "6000000000"},    // one quantity past it
		{"1.234567890", true, "2.469135780"},  // fits alone, the sum does not
		{"-1073741824", false, "-2147483648"}, // the smallest int32 sum
		{"0.000000001", false, "0.000000002"}, // many decimals, small coefficient
		{"744.0000000", true, "1488.0000000"}, // hours with seven decimals
		{"21474836.47", true, "42949672.94"},  // 2³¹ − 1 as a coefficient fits, the sum does not
	} {
		in := Input{RunID: "x", Period: engPeriod, Customers: engCustomers("A"), Coverage: engAvailable("A"), PayableOK: true}
		r := NewReconciler(in, Options{})
		p := engPay("A", "S1", c.qty, "10.00", "USD")
		r.AddPayable(&p)
		r.AddPayable(&p)
		q := engRecv("S1", c.qty, "20.00", "USD")
		r.AddReceivable("A", &q)
		l := r.lines.at(0)
		sums := r.lineSums(0, l)
		if got := billing.Text(sums[slotPayQty]); got != c.want || billing.Text(sums[slotRecQty]) != billing.Text(engDec(c.qty)) {
			t.Errorf("quantity %s: sums %s, %s, want %s, %s", c.qty, got, billing.Text(sums[slotRecQty]), c.want, billing.Text(engDec(c.qty)))
		}
		if wantRec := billing.Text(engDec(c.qty).Mul(engDec("20.00"))); billing.Text(sums[slotPay]) != "20.00" || billing.Text(sums[slotRec]) != wantRec {
			t.Errorf("quantity %s: amounts %s, %s, want 20.00, %s", c.qty, billing.Text(sums[slotPay]), billing.Text(sums[slotRec]), wantRec)
		}
		if l.has(lineBig) != c.big {
			t.Errorf("quantity %s: on the decimal fallback %v, want %v", c.qty, l.has(lineBig), c.big)
		}
		wantNeg := engDec(c.qty).Mul(engDec("20.00")).Sub(engDec("20.00")).Sign() < 0
		if qm, nm := r.lineKinds(0, l); !qm || nm != wantNeg {
			t.Errorf("quantity %s: quantity mismatch %v, negative margin %v; want true, %v", c.qty, qm, nm, wantNeg)
		}
	}
}
