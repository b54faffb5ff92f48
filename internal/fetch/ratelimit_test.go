package fetch

import (
	"context"
	"math"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

// accept records n accepted requests spread evenly over d.
func accept(a *adaptiveLimiter, clk *testkit.Clock, n int, d time.Duration) {
	for range n {
		clk.Advance(d / time.Duration(n))
		a.accepted(clk.Now())
	}
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestAdaptiveLimiterAIMD(t *testing.T) {
	clk := testkit.NewClock(time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC))
	a := newAdaptiveLimiter(0, clk.Now)
	if a.Rate() != 0 {
		t.Fatalf("initial rate = %g, want 0 (unlimited)", a.Rate())
	}
	if _, d := a.reserve(clk.Now()); d != 0 {
		t.Fatalf("unlimited limiter delays %s", d)
	}

	// A lone 429 says nothing about the server's rate: no cut.
	a.accepted(clk.Now())
	a.limited(clk.Now(), clk.Now())
	if a.Rate() != 0 || a.Cuts() != 0 {
		t.Fatalf("after a lone 429: rate %g, cuts %d; want unlimited", a.Rate(), a.Cuts())
	}

	// 100 accepted over the last second, then a 429: cut to 0.9 × 100/s.
	clk.Advance(3 * time.Second)
	accept(a, clk, 100, time.Second)
	sent := clk.Now()
	clk.Advance(10 * time.Millisecond)
	a.limited(sent, clk.Now())
	if r := a.Rate(); !near(r, 90, 1) || a.Cuts() != 1 {
		t.Fatalf("after the first cut: rate %g, cuts %d; want about 90, 1", r, a.Cuts())
	}
	// The other requests in flight answered 429 too: same event, no new cut.
	a.limited(sent, clk.Now().Add(5*time.Millisecond))
	if a.Cuts() != 1 {
		t.Fatalf("cuts = %d after a 429 of the same event", a.Cuts())
	}

	// The server asks for 1 s: that time does not raise the rate.
	a.holdOff(time.Second)
	clk.Advance(time.Second)
	a.reserve(clk.Now())
	if r := a.Rate(); !near(r, 90, 1) {
		t.Fatalf("rate after the hold-off = %g, want still about 90", r)
	}
	// Then it grows by 3% of 90 = 2.7/s per second of requests.
	for range 9 {
		accept(a, clk, 100, time.Second)
		a.reserve(clk.Now())
	}
	if r := a.Rate(); !near(r, 114.3, 1) {
		t.Fatalf("rate after 9 s without 429 = %g, want about 114.3", r)
	}

	// The next 429: the last second shows 120/s accepted, but since the
	// previous cut the server accepted less (it was held off for a second):
	// cut to 0.9 × that, not 0.9 × 120.
	accept(a, clk, 120, time.Second)
	sent = clk.Now()
	clk.Advance(time.Millisecond)
	wantLong := float64(a.total-a.totalAtCut) / clk.Now().Sub(a.lastCut).Seconds()
	if wantLong > 100 || wantLong < 80 {
		t.Fatalf("test setup: %g accepted/s since the previous cut", wantLong)
	}
	a.limited(sent, clk.Now())
	if r := a.Rate(); !near(r, 0.9*wantLong, 0.5) || a.Cuts() != 2 {
		t.Fatalf("second cut: rate %g, cuts %d; want %g (0.9 × %g accepted/s since the previous cut)", r, a.Cuts(), 0.9*wantLong, wantLong)
	}

	// An idle minute counts for one second only: +3% of the cut rate.
	r0 := a.Rate()
	clk.Advance(time.Minute)
	a.reserve(clk.Now())
	if r := a.Rate(); !near(r, r0*1.03, 0.1) {
		t.Fatalf("rate after an idle minute = %g, want %g", r, r0*1.03)
	}
}

func TestAdaptiveLimiterCeiling(t *testing.T) {
	clk := testkit.NewClock(time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC))
	a := newAdaptiveLimiter(50, clk.Now)
	if a.Rate() != 50 {
		t.Fatalf("initial rate = %g, want the configured 50", a.Rate())
	}
	// Burst 1: the second request in the same instant waits 1/50 s.
	if _, d := a.reserve(clk.Now()); d != 0 {
		t.Fatalf("first request delayed %s", d)
	}
	if _, d := a.reserve(clk.Now()); d != 20*time.Millisecond {
		t.Fatalf("second request delayed %s, want 20ms", d)
	}
	clk.Advance(time.Second)
	accept(a, clk, 50, time.Second)
	sent := clk.Now()
	clk.Advance(time.Millisecond)
	a.limited(sent, clk.Now())
	if r := a.Rate(); !near(r, 45, 1) {
		t.Fatalf("rate after a cut = %g, want about 45", r)
	}
	for range 100 {
		clk.Advance(time.Second)
		a.reserve(clk.Now())
	}
	if r := a.Rate(); r != 50 {
		t.Fatalf("rate after a long quiet time = %g, want the configured 50 (never above)", r)
	}
}

func TestAdaptiveLimiterWaitCancelled(t *testing.T) {
	a := newAdaptiveLimiter(1, time.Now)
	ctx := context.Background()
	if err := a.wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The next slot is a second away: a shorter deadline fails at once.
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := a.wait(dctx); err == nil {
		t.Fatal("wait past the deadline succeeded")
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("wait past the deadline took %s, want an immediate failure", time.Since(start))
	}
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := a.wait(cctx); err == nil {
		t.Fatal("wait on a cancelled context succeeded")
	}
}

// loadResult is what the simulator saw during a load run.
type loadResult struct {
	accepted, limited int     // server-side, within the measured window
	elapsed           float64 // seconds of the measured window
	stats             Stats   // client stats at the end
	sim               sherwebsim.Stats
}

func (r loadResult) rate() float64 { return float64(r.accepted) / r.elapsed }
func (r loadResult) frac429() float64 {
	if r.accepted+r.limited == 0 {
		return 0
	}
	return float64(r.limited) / float64(r.accepted+r.limited)
}

// runLoad fetches receivables of the simulator's customers in a loop with
// conc goroutines for warmup+measure, against a server limited to limit
// requests/s, and reports what the server answered after the warm-up.
func runLoad(t *testing.T, limit, clientRate float64, conc int, warmup, measure time.Duration) loadResult {
	t.Helper()
	sim := sherwebsim.New(sherwebsim.Config{
		Seed: 7, Customers: 40, Charges: 120,
		Faults: sherwebsim.Faults{RateLimit: limit},
	})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := New(context.Background(), Config{
		BaseURL: srv.URL, ClientID: "sim-client", ClientSecret: "sim-secret", SubscriptionKey: "sim-key",
		HTTPClient: srv.Client(), MaxAttempts: 50, Rate: clientRate,
	})
	if err != nil {
		t.Fatal(err)
	}
	customers := sim.Customers()
	period := sim.DefaultPeriod()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cu := customers[int(next.Add(1))%len(customers)]
				if _, _, err := c.ReceivableCharges(ctx, cu.ID, period.From); err != nil && ctx.Err() == nil {
					failed.Store(err)
					cancel()
				}
			}
		}()
	}
	time.Sleep(warmup)
	s0, t0 := sim.Stats(), time.Now()
	time.Sleep(measure)
	s1, t1 := sim.Stats(), time.Now()
	cancel()
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatalf("fetch failed: %v", err)
	}
	calls, limited := s1.Calls-s0.Calls, s1.RateLimited-s0.RateLimited
	return loadResult{
		accepted: calls - limited, limited: limited, elapsed: t1.Sub(t0).Seconds(),
		stats: c.Stats(), sim: sim.Stats(),
	}
}

// TestRateLimitedThroughput runs the customer phase against the simulator's
// server-side token bucket (429 + Retry-After past L requests/s): with --rate
// L the client sustains about L with no 429; with no rate it learns L from
// the 429s within a couple of seconds and then sustains most of it with
// hardly any 429. Throughput bounds are loose (a loaded 2-core machine); the
// 429 fraction is what fails when adaptation is broken (holding off alone,
// with no client-side limit, gives 4-5% 429s here).
func TestRateLimitedThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs about 13 s")
	}
	const limit = 100.0
	t.Run("rate configured", func(t *testing.T) {
		r := runLoad(t, limit, limit, 6, time.Second, 4*time.Second)
		t.Logf("L=%g --rate %g: %.1f req/s accepted (%.1f%% of L), %d 429s of %d (%.2f%%); client %+v; sim calls %d, 429s %d, tokens %d",
			limit, limit, r.rate(), 100*r.rate()/limit, r.limited, r.accepted+r.limited, 100*r.frac429(), r.stats, r.sim.Calls, r.sim.RateLimited, r.sim.TokenRequests)
		if r.sim.RateLimited > r.sim.Calls/50 {
			t.Errorf("%d 429s of %d calls, want at most 2%%", r.sim.RateLimited, r.sim.Calls)
		}
		if r.rate() < 0.7*limit {
			t.Errorf("sustained %.1f req/s, want at least 70%% of %g", r.rate(), limit)
		}
		if r.stats.Rate > limit {
			t.Errorf("client rate %g above the configured %g", r.stats.Rate, limit)
		}
		if r.sim.TokenRequests != 1 || r.stats.TokenRequests != 1 {
			t.Errorf("token requests: sim %d, client %d; want 1", r.sim.TokenRequests, r.stats.TokenRequests)
		}
	})
	t.Run("rate learned", func(t *testing.T) {
		r := runLoad(t, limit, 0, 8, 2*time.Second, 6*time.Second)
		t.Logf("L=%g no --rate: after 2 s, %.1f req/s accepted (%.1f%% of L), %d 429s of %d (%.2f%%); client %+v; sim calls %d, 429s %d, tokens %d",
			limit, r.rate(), 100*r.rate()/limit, r.limited, r.accepted+r.limited, 100*r.frac429(), r.stats, r.sim.Calls, r.sim.RateLimited, r.sim.TokenRequests)
		if r.stats.RateCuts < 1 || r.stats.Rate <= 0 {
			t.Fatalf("client never adapted: %+v", r.stats)
		}
		if f := r.frac429(); f > 0.02 {
			t.Errorf("after warm-up %d 429s of %d requests (%.2f%%), want at most 2%%", r.limited, r.accepted+r.limited, 100*f)
		}
		if r.rate() < 0.7*limit {
			t.Errorf("sustained %.1f req/s, want at least 70%% of %g", r.rate(), limit)
		}
		if r.stats.Rate < 0.5*limit || r.stats.Rate > 1.5*limit {
			t.Errorf("learned rate %g, want near %g", r.stats.Rate, limit)
		}
		if r.sim.TokenRequests != 1 || r.stats.TokenRequests != 1 {
			t.Errorf("token requests: sim %d, client %d; want 1", r.sim.TokenRequests, r.stats.TokenRequests)
		}
	})
}
