package sherwebsim

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/shopspring/decimal"
)

func TestAppendFxIsBillingText(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []fx{{0, 0}, {0, 2}, {-50, 2}, {5, 3}, {-5, 9}, {1521, 2}, {1520, 2}, {45, 0}, {-12, 0}, {100000, 5}}
	for i := 0; i < 2000; i++ {
		cases = append(cases, fx{v: r.Int64N(2e12) - 1e12, s: int8(r.IntN(10))})
	}
	for _, c := range cases {
		want := billing.Text(decimal.New(c.v, -int32(c.s)))
		if got := string(appendFx(nil, c)); got != want {
			t.Fatalf("appendFx(%v) = %s, billing.Text = %s", c, got, want)
		}
	}
}

func TestFixedRounding(t *testing.T) {
	for _, tc := range []struct {
		in   fx
		s    int8
		want string
	}{
		{fx{12345, 4}, 2, "1.23"}, {fx{12350, 4}, 2, "1.24"}, {fx{-12350, 4}, 2, "-1.24"},
		{fx{-12349, 4}, 2, "-1.23"}, {fx{5, 1}, 0, "1"}, {fx{-5, 1}, 0, "-1"}, {fx{12, 1}, 3, "1.2"},
	} {
		got := tc.in.round(tc.s)
		if !got.dec().Equal(decimal.RequireFromString(tc.want)) {
			t.Errorf("round(%v, %d) = %s, want %s", tc.in, tc.s, got.dec(), tc.want)
		}
		// Same as shopspring's half-away-from-zero Round.
		if !got.dec().Equal(tc.in.dec().Round(int32(tc.s))) {
			t.Errorf("round(%v, %d) differs from decimal.Round", tc.in, tc.s)
		}
	}
	if got := (fx{1521, 2}).mul(fxInt(16)).divRound(31); got.dec().String() != "7.85" {
		t.Errorf("15.21 × 16/31 = %s, want 7.85", got.dec())
	}
}

func TestUUIDAndStrings(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100; i++ {
		if u := newUUID(r.Uint64(), r.Uint64()).String(); !re.MatchString(u) {
			t.Fatalf("uuid %s", u)
		}
	}
	if got := string(billing.AppendJSONString(nil, "a\"b\\c\n\x01é")); got != `"a\"b\\c\n\u0001é"` {
		t.Errorf("appendString = %s", got)
	}
}

// discard is a ResponseWriter that only counts bytes.
type discard struct {
	h http.Header
	n int64
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// BenchmarkServePayable serves a 100,000-charge payable body; MB/s is the
// generation and encoding speed (handler to a discarding writer) and, in
// "http", over loopback HTTP including the client's read.
func BenchmarkServePayable(b *testing.B) {
	sim := New(Config{Seed: 1, Customers: 1000, Charges: 100_000})
	tok := "bench"
	sim.tokens[tok] = token{seq: 1, scopes: scopeDistributor, expires: sim.now().AddDate(1, 0, 0)}
	newReq := func(base string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, base+PathPayable+"?date=2026-10-01", nil)
		req.Header.Set("Ocp-Apim-Subscription-Key", "sim-key")
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}
	b.Run("handler", func(b *testing.B) {
		w := &discard{h: http.Header{}}
		sim.ServeHTTP(w, newReq("http://sim"))
		b.SetBytes(w.n)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sim.ServeHTTP(&discard{h: http.Header{}}, newReq("http://sim"))
		}
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(sim)
		defer srv.Close()
		var size int64
		for i := 0; i <= b.N; i++ {
			if i == 1 {
				b.SetBytes(size)
				b.ResetTimer()
			}
			resp, err := http.DefaultClient.Do(newReq(srv.URL))
			if err != nil {
				b.Fatal(err)
			}
			d := &discard{}
			buf := make([]byte, 64<<10)
			for {
				n, err := resp.Body.Read(buf)
				d.n += int64(n)
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			size = d.n
		}
	})
}

// BenchmarkServeCustomers serves each of 100 customers' receivable charges
// and subscriptions (a close's fan-out makes these two calls per customer)
// to a discarding writer: the generation and encoding cost per customer,
// and what the simulator allocates for it.
func BenchmarkServeCustomers(b *testing.B) {
	sim := New(Config{Seed: 1, Customers: 100, Charges: 10_000})
	tok := "bench"
	sim.tokens[tok] = token{seq: 1, scopes: scopeServiceProvider, expires: sim.now().AddDate(1, 0, 0)}
	var reqs []*http.Request
	for _, c := range sim.gen.customers {
		for _, path := range []string{PathReceivable + "?date=2026-10-01&customerId=", PathSubs + "?customerId="} {
			req, _ := http.NewRequest(http.MethodGet, "http://sim"+path+c.ID, nil)
			req.Header.Set("Ocp-Apim-Subscription-Key", "sim-key")
			req.Header.Set("Authorization", "Bearer "+tok)
			reqs = append(reqs, req)
		}
	}
	var n int64
	for _, req := range reqs {
		w := &discard{h: http.Header{}}
		sim.ServeHTTP(w, req)
		n += w.n
	}
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, req := range reqs {
			sim.ServeHTTP(&discard{h: http.Header{}}, req)
		}
	}
}
