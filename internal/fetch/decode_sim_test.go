package fetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// simBodies are the response bodies the simulator serves for one billing
// period (the W1M data at a hundredth of its size: 100 customers, about
// 10,000 payable and 10,000 receivable lines), captured once through the
// real client over HTTP, to benchmark and test the decoders on realistic data.
type simBodies struct {
	payable     []byte
	receivables [][]byte // one per customer
	subs        [][]byte // one per customer
	customers   []string
}

var (
	simOnce sync.Once
	simData simBodies
	simErr  error
)

// recordingTransport keeps the body of every API response by path.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	last map[string][]byte
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.last[r.URL.Path] = b
	t.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func loadSimBodies(tb testing.TB) *simBodies {
	tb.Helper()
	simOnce.Do(func() { simData, simErr = captureSimBodies() })
	if simErr != nil {
		tb.Fatal(simErr)
	}
	return &simData
}

func captureSimBodies() (simBodies, error) {
	var out simBodies
	sim := sherwebsim.New(sherwebsim.Config{Seed: 20261001, Customers: 100, Charges: 10_000})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	rt := &recordingTransport{base: http.DefaultTransport, last: map[string][]byte{}}
	ctx := context.Background()
	c, err := New(ctx, Config{BaseURL: srv.URL, ClientID: "sim-client", ClientSecret: "sim-secret", SubscriptionKey: "sim-key",
		HTTPClient: &http.Client{Transport: rt}, RequestTimeout: time.Minute, MaxAttempts: 1})
	if err != nil {
		return out, err
	}
	if _, err := c.PayableCharges(ctx, "", discard{}); err != nil {
		return out, err
	}
	out.payable = rt.last[sherwebsim.PathPayable]
	customers, err := c.Customers(ctx)
	if err != nil {
		return out, err
	}
	for _, cu := range customers {
		if _, _, err := c.ReceivableCharges(ctx, cu.ID, ""); err != nil {
			return out, err
		}
		if _, err := c.Subscriptions(ctx, cu.ID); err != nil {
			return out, err
		}
		out.customers = append(out.customers, cu.ID)
		out.receivables = append(out.receivables, rt.last[sherwebsim.PathReceivable])
		out.subs = append(out.subs, rt.last[sherwebsim.PathSubs])
	}
	return out, nil
}

// countCharges is a PayableHandler counting what it receives.
type countCharges struct{ n int }

func (h *countCharges) Reset() error { h.n = 0; return nil }
func (h *countCharges) Charge(*billing.PayableCharge) error {
	h.n++
	return nil
}

// processCPU returns the CPU time (user and system) the process has used so
// far, all threads included (the collector's among them).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perLine reports the benchmark's time per decoded line, and the CPU time
// per line since cpu0 (a processCPU reading taken before the loop), which
// other processes sharing the machine disturb less than the wall time.
func perLine(b *testing.B, lines int, cpu0 time.Duration) {
	b.Helper()
	n := float64(b.N) * float64(lines)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/n, "cpu-ns/line")
	b.ReportMetric(float64(lines), "lines/op")
}

// BenchmarkSimDecode decodes the simulator's bodies (see simBodies) with the
// fast decoders: the payable stream, every customer's receivables, every
// customer's subscriptions. ns/line is per charge or subscription;
// B/op and allocs/op are per whole set (divide by lines/op).
func BenchmarkSimDecode(b *testing.B) {
	sb := loadSimBodies(b)
	b.Run("payable", func(b *testing.B) {
		h := &countCharges{}
		b.SetBytes(int64(len(sb.payable)))
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			h.n = 0
			if _, err := decodePayable(bytes.NewReader(sb.payable), h, true); err != nil {
				b.Fatal(err)
			}
		}
		perLine(b, h.n, cpu0)
	})
	b.Run("receivables", func(b *testing.B) {
		b.ReportAllocs()
		lines := 0
		cpu0 := processCPU()
		for b.Loop() {
			lines = 0
			for i, body := range sb.receivables {
				_, out, err := decodeReceivables(body, sb.customers[i], true)
				if err != nil {
					b.Fatal(err)
				}
				lines += len(out)
			}
		}
		perLine(b, lines, cpu0)
	})
	b.Run("subscriptions", func(b *testing.B) {
		b.ReportAllocs()
		lines := 0
		cpu0 := processCPU()
		for b.Loop() {
			lines = 0
			for i, body := range sb.subs {
				out, err := decodeSubscriptions(body, sb.customers[i], true)
				if err != nil {
					b.Fatal(err)
				}
				lines += len(out)
			}
		}
		perLine(b, lines, cpu0)
	})
}

// TestSimBodiesAgree decodes the simulator's bodies with and without the
// fast paths: the fast paths must take every one of them and decode exactly
// what encoding/json decodes.
func TestSimBodiesAgree(t *testing.T) {
	sb := loadSimBodies(t)
	decodeBoth(t, sb.payable, readers["whole"])
	decodeBoth(t, sb.payable, readers["half"])
	for i, body := range sb.receivables {
		p, out, ok := fastReceivables(body)
		wp, wout, werr := decodeReceivablesJSON(body, sb.customers[i])
		if !ok || werr != nil || p != wp || !reflect.DeepEqual(out, wout) {
			t.Fatalf("receivables of %s: fast ok=%v, slow err %v, or they differ", sb.customers[i], ok, werr)
		}
	}
	for i, body := range sb.subs {
		out, ok := fastSubscriptions(body)
		wout, werr := decodeSubscriptionsJSON(body, sb.customers[i])
		if !ok || werr != nil || !reflect.DeepEqual(out, wout) {
			t.Fatalf("subscriptions of %s: fast ok=%v, slow err %v, or they differ", sb.customers[i], ok, werr)
		}
	}
}

// TestRecycledBodiesNotKept: what ReceivableCharges and Subscriptions
// return does not point into the recycled body buffers: fetching other
// customers afterwards leaves it equal to a fresh decode.
func TestRecycledBodiesNotKept(t *testing.T) {
	sim := sherwebsim.New(sherwebsim.Config{Seed: 7, Customers: 6, Charges: 300})
	c := simClient(t, sim, &sleeps{})
	ctx := context.Background()
	customers, err := c.Customers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		period billing.Period
		recs   []billing.ReceivableCharge
		subs   []billing.Subscription
	}
	var first []got
	for round := range 2 {
		for i, cu := range customers {
			p, recs, err := c.ReceivableCharges(ctx, cu.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			subs, err := c.Subscriptions(ctx, cu.ID)
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				first = append(first, got{p, recs, subs})
				continue
			}
			if g := first[i]; g.period != p || !reflect.DeepEqual(g.recs, recs) || !reflect.DeepEqual(g.subs, subs) {
				t.Fatalf("customer %s: what the first round returned changed", cu.ID)
			}
		}
	}
}
