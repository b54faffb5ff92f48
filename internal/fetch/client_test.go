package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"golang.org/x/sync/errgroup"
)

const customersBody = `{"items":[{"id":"9d0c6a1e-3b2f-4e8a-9c71-5a4b3c2d1e0f","displayName":"Contoso Ltd","path":["Acme","Contoso Ltd"],"suspendedOn":null},` +
	`{"id":"0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f","displayName":"Northwind","path":["Acme","Northwind"],"suspendedOn":"2024-02-14T18:03:11.1234567"}]}`

func okCustomers(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, customersBody) }

func TestTokensPerScopeAndHeaders(t *testing.T) {
	f := newFake(t)
	var gotQuery string
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		writeJSON(w, 200, payableJSON(3))
	})
	f.handle(pathCustomers, okCustomers)
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	ctx := context.Background()

	h := &collector{}
	p, err := c.PayableCharges(ctx, "2024-03-17", h)
	if err != nil {
		t.Fatal(err)
	}
	if want := (billing.Period{From: "2024-03-01", To: "2024-03-31"}); !p.Equal(want) {
		t.Errorf("period = %v, want %v", p, want)
	}
	if gotQuery != "date=2024-03-17" {
		t.Errorf("query = %q", gotQuery)
	}
	if len(h.charges) != 3 || h.resets != 1 {
		t.Errorf("got %d charges, %d resets; want 3, 1", len(h.charges), h.resets)
	}
	if got := billing.Text(h.charges[0].SubTotal.Decimal); got != "152.10" {
		t.Errorf("subTotal = %s, want 152.10", got)
	}
	for range 3 {
		cs, err := c.Customers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 2 || cs[1].SuspendedOn != "2024-02-14T18:03:11.1234567Z" {
			t.Fatalf("customers = %+v", cs)
		}
	}
	if _, err := c.PayableCharges(ctx, "", &collector{}); err != nil {
		t.Fatal(err)
	}
	if gotQuery != "" {
		t.Errorf("query without date = %q, want none", gotQuery)
	}
	if f.tokens("distributor") != 1 || f.tokens("service-provider") != 1 {
		t.Errorf("token requests = %v, want one per scope", f.tokenCalls)
	}
	st := c.Stats()
	if st.Calls != 5 || st.TokenRequests != 2 || st.Retries != 0 {
		t.Errorf("stats = %+v", st)
	}
	f.assertHeaders(t)
}

func TestTokenRefreshBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ttl     int
		advance time.Duration
		want    int // token requests after the second call
	}{
		{"fresh", 3600, 30 * time.Minute, 1},
		{"within 10s of expiry", 60, 51 * time.Second, 2},
		{"expired", 60, 2 * time.Minute, 2},
		{"no expires_in is one hour", 0, 59 * time.Minute, 1},
		{"no expires_in after an hour", 0, 61 * time.Minute, 2},
		{"short-lived token reused for half its life", 8, 3 * time.Second, 1},
		{"short-lived token replaced after half its life", 8, 5 * time.Second, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.tokenTTL = tc.ttl
			f.handle(pathCustomers, okCustomers)
			var s sleeps
			c := newTestClient(t, testConfig(f, &s))
			clk := testkit.NewClock(time.Date(2024, 3, 17, 12, 0, 0, 0, time.UTC))
			c.now = clk.Now
			if _, err := c.Customers(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.advance)
			if _, err := c.Customers(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := f.tokens("service-provider"); got != tc.want {
				t.Errorf("token requests = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	f := newFake(t)
	f.handle(pathCustomers, okCustomers)
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	ctx := context.Background()
	if _, err := c.Customers(ctx); err != nil {
		t.Fatal(err)
	}
	f.revokeAll() // the cached token is still "valid" by its expiry
	if _, err := c.Customers(ctx); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if got := f.tokens("service-provider"); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := f.calls(pathCustomers); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
}

func TestUnauthorizedTwiceIsFinal(t *testing.T) {
	f := newFake(t)
	f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, `{"statusCode":401,"message":"Access denied due to invalid subscription key."}`)
	})
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	_, err := c.Customers(context.Background())
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != 401 {
		t.Fatalf("err = %v, want APIError 401", err)
	}
	if !strings.Contains(api.Message, "invalid subscription key") {
		t.Errorf("message = %q", api.Message)
	}
	if got := f.calls(pathCustomers); got != 2 {
		t.Errorf("calls = %d, want 2 (one retry after a fresh token)", got)
	}
	if got := f.tokens("service-provider"); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestWrongScopeIs403NotRetried(t *testing.T) {
	f := newFake(t)
	f.handle(pathCustomers, okCustomers)
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	// Force the wrong token into the service-provider cache.
	dist, err := c.tokens[scopeDistributor].get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sp := c.tokens[scopeServiceProvider]
	sp.token, sp.refreshAt = dist, time.Now().Add(time.Hour)
	_, err = c.Customers(context.Background())
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != 403 || api.Title != "Forbidden" {
		t.Fatalf("err = %v, want APIError 403", err)
	}
	if f.calls(pathCustomers) != 1 {
		t.Errorf("calls = %d, want 1", f.calls(pathCustomers))
	}
}

func TestRateLimitWaits(t *testing.T) {
	now := time.Date(2024, 3, 17, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header string
		body   string
		want   time.Duration
	}{
		{"retry-after seconds", "7", `{"statusCode":429,"message":"Rate limit is exceeded."}`, 7 * time.Second},
		{"retry-after http date", now.Add(9 * time.Second).Format(http.TimeFormat), `{}`, 9 * time.Second},
		{"problem details detail", "", `{"title":"Too Many Requests","status":429,"detail":"Rate limit is exceeded. Try again in 12 seconds."}`, 12 * time.Second},
		{"gateway message", "", `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3 seconds."}`, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			var n atomic.Int32
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					writeJSON(w, 429, tc.body)
					return
				}
				okCustomers(w, r)
			})
			var s sleeps
			c := newTestClient(t, testConfig(f, &s))
			clk := testkit.NewClock(now)
			c.now = clk.Now
			if _, err := c.Customers(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := s.list()
			if len(got) != 1 || got[0] < tc.want || got[0] > tc.want+c.cfg.BaseBackoff {
				t.Fatalf("sleeps = %v, want one of %v plus jitter", got, tc.want)
			}
			if st := c.Stats(); st.RateLimited != 1 || st.Retries != 1 || st.Calls != 2 {
				t.Errorf("stats = %+v", st)
			}
			// The hold-off is shared: another request before the wait is over
			// (the fake clock did not move) waits too.
			f.handle(pathSubs, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"items":[]}`) })
			if _, err := c.Subscriptions(context.Background(), "c1"); err != nil {
				t.Fatal(err)
			}
			if got := s.list(); len(got) != 2 || got[1] < tc.want {
				t.Errorf("sleeps = %v, want the second request held off too", got)
			}
		})
	}
}

func TestRateLimitTooLongFailsFast(t *testing.T) {
	now := time.Date(2024, 3, 17, 12, 0, 0, 0, time.UTC)
	for _, header := range []string{"3600", now.Add(time.Hour).Format(http.TimeFormat)} {
		f := newFake(t)
		f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", header)
			writeJSON(w, 429, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3600 seconds."}`)
		})
		var s sleeps
		c := newTestClient(t, testConfig(f, &s))
		c.now = testkit.NewClock(now).Now
		_, err := c.PayableCharges(context.Background(), "", &collector{})
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != time.Hour || rl.Endpoint != pathPayable {
			t.Fatalf("Retry-After %s: err = %v, want RateLimitError 1h", header, err)
		}
		if f.calls(pathPayable) != 1 || len(s.list()) != 0 {
			t.Errorf("calls = %d, sleeps = %v; want 1 call and no sleep", f.calls(pathPayable), s.list())
		}
		if Retryable(err) {
			t.Error("RateLimitError is retryable")
		}
	}
}

func TestServerErrorsRetried(t *testing.T) {
	f := newFake(t)
	statuses := []int{503, 502, 500}
	var n atomic.Int32
	f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			writeJSON(w, statuses[i], `{"title":"oops"}`)
			return
		}
		okCustomers(w, r)
	})
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	if _, err := c.Customers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Calls != 4 || st.Retries != 3 {
		t.Errorf("stats = %+v", st)
	}
	got := s.list()
	if len(got) != 3 {
		t.Fatalf("sleeps = %v", got)
	}
	for i, d := range got {
		if ceil := c.cfg.BaseBackoff << i; d < 0 || d > ceil {
			t.Errorf("backoff %d = %v, want within [0, %v]", i, d, ceil)
		}
	}
}

func TestNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404, 501} {
		f := newFake(t)
		f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, `{"title":"no"}`) })
		var s sleeps
		c := newTestClient(t, testConfig(f, &s))
		_, err := c.Customers(context.Background())
		var api *APIError
		if !errors.As(err, &api) || api.StatusCode != status {
			t.Errorf("%d: err = %v", status, err)
		}
		if f.calls(pathCustomers) != 1 {
			t.Errorf("%d: calls = %d, want 1", status, f.calls(pathCustomers))
		}
	}
}

func TestAttemptsCapped(t *testing.T) {
	f := newFake(t)
	f.handle(pathReceivables, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 503, `{"statusCode":503,"message":"Service Unavailable"}`)
	})
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.MaxAttempts = 3
	c := newTestClient(t, cfg)
	_, _, err := c.ReceivableCharges(context.Background(), "9d0c", "2024-03-17")
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != 503 {
		t.Fatalf("err = %v", err)
	}
	want := "giving up after 3 attempts: GET /service-provider/v1/billing/receivable-charges: 503 Service Unavailable"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
	if f.calls(pathReceivables) != 3 {
		t.Errorf("calls = %d, want 3", f.calls(pathReceivables))
	}
}

func TestStallBeforeHeadersRetried(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // stall until the client gives up
			return
		}
		okCustomers(w, r)
	})
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.RequestTimeout = 200 * time.Millisecond
	c := newTestClient(t, cfg)
	if _, err := c.Customers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Calls != 2 || st.Retries != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestStallMidBodyRetried(t *testing.T) {
	f := newFake(t)
	body := payableJSON(50)
	var n atomic.Int32
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			fmt.Fprint(w, body[:len(body)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, body)
	})
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.RequestTimeout = 200 * time.Millisecond
	c := newTestClient(t, cfg)
	h := &collector{}
	if _, err := c.PayableCharges(context.Background(), "", h); err != nil {
		t.Fatal(err)
	}
	if h.resets != 2 || len(h.charges) != 50 {
		t.Errorf("resets = %d, charges = %d; want 2, 50", h.resets, len(h.charges))
	}
}

func TestTruncatedPayableRetried(t *testing.T) {
	f := newFake(t)
	body := payableJSON(20)
	cut := strings.LastIndex(body, "]")
	var n atomic.Int32
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1: // Content-Length larger than the body: net/http reports unexpected EOF
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(200)
			fmt.Fprint(w, body[:len(body)/3])
		case 2: // a valid prefix without the closing "]}", cleanly ended
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body[:cut])
		case 3: // cut inside a number
			w.Header().Set("Content-Type", "application/json")
			i := strings.Index(body, `"subTotal":152.1`) + len(`"subTotal":152.1`)
			fmt.Fprint(w, body[:i])
		default:
			writeJSON(w, 200, body)
		}
	})
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	h := &collector{}
	p, err := c.PayableCharges(context.Background(), "2024-03-17", h)
	if err != nil {
		t.Fatal(err)
	}
	if p.From != "2024-03-01" || h.resets != 4 || len(h.charges) != 20 {
		t.Errorf("period %v, resets %d, charges %d; want 4 resets and 20 charges", p, h.resets, len(h.charges))
	}
}

func TestTruncatedAlwaysFails(t *testing.T) {
	f := newFake(t)
	body := payableJSON(5)
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body[:len(body)-10])
	})
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	_, err := c.PayableCharges(context.Background(), "", &collector{})
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), pathPayable) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("err = %q, want it to name %s and say truncated", err, pathPayable)
	}
	if f.calls(pathPayable) != 4 {
		t.Errorf("calls = %d, want MaxAttempts = 4", f.calls(pathPayable))
	}
}

func TestBadDataNotRetried(t *testing.T) {
	f := newFake(t)
	body := strings.Replace(payableJSON(20), `"subTotal":152.10`, `"subTotal":"abc"`, 1)
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, body) })
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	_, err := c.PayableCharges(context.Background(), "", &collector{})
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "subTotal" {
		t.Fatalf("err = %v, want DecodeError on subTotal", err)
	}
	if f.calls(pathPayable) != 1 {
		t.Errorf("calls = %d, want 1", f.calls(pathPayable))
	}
}

func TestHandlerErrorAborts(t *testing.T) {
	f := newFake(t)
	f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, payableJSON(10)) })
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	h := &collector{failOn: 3}
	_, err := c.PayableCharges(context.Background(), "", h)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "charge #2") {
		t.Fatalf("err = %v", err)
	}
	if f.calls(pathPayable) != 1 {
		t.Errorf("calls = %d, want 1", f.calls(pathPayable))
	}
}

func TestErrorBodyShapes(t *testing.T) {
	long := strings.Repeat("x", 500)
	for _, tc := range []struct {
		name, ctype, body string
		want              APIError
	}{
		{"problem details", "application/problem+json",
			`{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.4","title":"Not Found","status":404,"detail":"Customer 0000 was not found.","traceId":"00-4bf9-01"}`,
			APIError{StatusCode: 404, Title: "Not Found", Message: "Customer 0000 was not found.", TraceID: "00-4bf9-01"}},
		{"gateway", "application/json", `{"statusCode":404,"message":"Resource not found"}`,
			APIError{StatusCode: 404, Message: "Resource not found"}},
		{"html", "text/html", "<html><body>Bad gateway\n</body></html>",
			APIError{StatusCode: 404, Message: "<html><body>Bad gateway </body></html>"}},
		{"long text", "text/plain", long, APIError{StatusCode: 404, Message: long[:200] + "…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.handle(pathReceivables, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(404)
				fmt.Fprint(w, tc.body)
			})
			var s sleeps
			c := newTestClient(t, testConfig(f, &s))
			_, _, err := c.ReceivableCharges(context.Background(), "0000", "")
			var api *APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v", err)
			}
			tc.want.Method, tc.want.Endpoint = "GET", pathReceivables
			if *api != tc.want {
				t.Errorf("got  %+v\nwant %+v", *api, tc.want)
			}
		})
	}
	e := &APIError{Method: "GET", Endpoint: pathReceivables, StatusCode: 503, Message: "try later"}
	if got, want := e.Error(), "GET /service-provider/v1/billing/receivable-charges: 503 Service Unavailable: try later"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCancelStopsPromptly(t *testing.T) {
	t.Run("during a wait", func(t *testing.T) {
		f := newFake(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "50")
			writeJSON(w, 503, `{}`)
			cancel()
		})
		cfg := testConfig(f, nil)
		cfg.Sleep = nil // the real, context-aware sleep
		c := newTestClient(t, cfg)
		_, err := c.Customers(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if f.calls(pathCustomers) != 1 {
			t.Errorf("calls = %d, want 1", f.calls(pathCustomers))
		}
	})
	t.Run("during a request", func(t *testing.T) {
		f := newFake(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.handle(pathPayable, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"charges":[`+chargeJSON(1))
			w.(http.Flusher).Flush()
			cancel()
			<-r.Context().Done()
		})
		cfg := testConfig(f, nil)
		cfg.Sleep = nil
		cfg.RequestTimeout = time.Minute
		c := newTestClient(t, cfg)
		_, err := c.PayableCharges(ctx, "", &collector{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if f.calls(pathPayable) != 1 {
			t.Errorf("calls = %d, want 1", f.calls(pathPayable))
		}
	})
}

func TestTokenEndpointFailures(t *testing.T) {
	t.Run("5xx retried", func(t *testing.T) {
		f := newFake(t)
		f.tokenFail = func(n int) (int, string) {
			if n <= 2 {
				return 502, `{"statusCode":502,"message":"Bad gateway"}`
			}
			return 0, ""
		}
		f.handle(pathCustomers, okCustomers)
		var s sleeps
		c := newTestClient(t, testConfig(f, &s))
		if _, err := c.Customers(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := c.Stats(); st.TokenRequests != 3 || len(s.list()) != 2 {
			t.Errorf("stats = %+v, sleeps = %v", st, s.list())
		}
	})
	t.Run("400 fatal", func(t *testing.T) {
		f := newFake(t)
		f.tokenFail = func(int) (int, string) {
			return 400, `{"error":"invalid_client","error_description":"bad client"}`
		}
		var s sleeps
		c := newTestClient(t, testConfig(f, &s))
		_, err := c.Customers(context.Background())
		var ae *AuthError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != "invalid_client" || ae.Scope != "service-provider" {
			t.Fatalf("err = %v", err)
		}
		if c.Stats().TokenRequests != 1 || f.calls(pathCustomers) != 0 {
			t.Errorf("stats = %+v", c.Stats())
		}
	})
	t.Run("slow token endpoint times out and is retried", func(t *testing.T) {
		f := newFake(t)
		f.handle(pathCustomers, okCustomers)
		release := make(chan struct{})
		defer close(release)
		f.tokenFail = func(n int) (int, string) {
			if n == 1 {
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
			}
			return 0, ""
		}
		var s sleeps
		cfg := testConfig(f, &s)
		cfg.TokenTimeout = 200 * time.Millisecond
		c := newTestClient(t, cfg)
		if _, err := c.Customers(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c.Stats().TokenRequests != 2 {
			t.Errorf("token requests = %d, want 2", c.Stats().TokenRequests)
		}
	})
	t.Run("concurrent callers share one mint", func(t *testing.T) {
		f := newFake(t)
		f.handle(pathCustomers, okCustomers)
		var s sleeps
		c := newTestClient(t, testConfig(f, &s))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Customers(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := f.tokens("service-provider"); got != 1 {
			t.Errorf("token requests = %d, want 1", got)
		}
	})
}

func TestNewValidatesConfig(t *testing.T) {
	base := Config{BaseURL: "https://api.sherweb.com", ClientID: "id", ClientSecret: "shh-secret", SubscriptionKey: "key-value"}
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"loopback http", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/" }, ""},
		{"loopback 127/8", func(c *Config) { c.BaseURL = "http://127.1.2.3:8080" }, ""},
		{"ipv6 loopback", func(c *Config) { c.BaseURL = "http://[::1]:8080" }, ""},
		{"localhost", func(c *Config) { c.BaseURL = "http://localhost:9000" }, ""},
		{"plain http", func(c *Config) { c.BaseURL = "http://api.sherweb.com" }, "plain http://"},
		{"plain http lan", func(c *Config) { c.BaseURL = "http://10.0.0.5" }, "plain http://"},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://x" }, "scheme"},
		{"credentials in url", func(c *Config) { c.BaseURL = "https://u:p@x" }, "credentials"},
		{"missing", func(c *Config) { c.ClientSecret, c.SubscriptionKey = "", "" }, "missing ClientSecret, SubscriptionKey"},
		{"missing all", func(c *Config) { *c = Config{} }, "missing BaseURL, ClientID, ClientSecret, SubscriptionKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			_, err := New(context.Background(), cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			for _, secret := range []string{"shh-secret", "key-value"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestMaxBodyBytes(t *testing.T) {
	f := newFake(t)
	f.handle(pathCustomers, okCustomers)
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.MaxBodyBytes = 100
	c := newTestClient(t, cfg)
	_, err := c.Customers(context.Background())
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), pathCustomers) || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Fatalf("err = %v", err)
	}
	if f.calls(pathCustomers) != 1 {
		t.Errorf("calls = %d", f.calls(pathCustomers))
	}
	// The bodies read into recycled buffers (receivables, subscriptions)
	// have the same limit.
	f.handle(pathReceivables, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[`+fastRC+`]}`)
	})
	f.handle(pathSubs, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"items":[`+fastSub+`]}`) })
	if _, _, err := c.ReceivableCharges(context.Background(), "c1", ""); !errors.As(err, &de) || !strings.Contains(err.Error(), pathReceivables) || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Fatalf("receivables: err = %v", err)
	}
	if _, err := c.Subscriptions(context.Background(), "c1"); !errors.As(err, &de) || !strings.Contains(err.Error(), pathSubs) || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Fatalf("subscriptions: err = %v", err)
	}
}

func TestRateLimiter(t *testing.T) {
	f := newFake(t)
	f.handle(pathCustomers, okCustomers)
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.Rate = 1000
	c := newTestClient(t, cfg)
	for range 5 {
		if _, err := c.Customers(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Customers(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestSecretsNeverShown drives every failure path with servers that echo the
// secrets and tokens back, and checks no error text or log line contains them.
func TestSecretsNeverShown(t *testing.T) {
	echo := func(r *http.Request) string {
		return fmt.Sprintf(`{"title":"echo %s","detail":"key %s auth %s","traceId":"%s"}`,
			testSecret, r.Header.Get("Ocp-Apim-Subscription-Key"), r.Header.Get("Authorization"), testSubKey)
	}
	type path struct {
		name  string
		setup func(f *fakeSherweb, cfg *Config)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, p := range []path{
		{"token 400 echo", func(f *fakeSherweb, cfg *Config) {
			f.tokenFail = func(int) (int, string) {
				return 400, fmt.Sprintf(`{"error":"invalid_client %s","error_description":"secret %s key %s"}`, testSecret, testSecret, testSubKey)
			}
		}},
		{"token 401 gateway echo", func(f *fakeSherweb, cfg *Config) {
			f.tokenFail = func(int) (int, string) {
				return 401, fmt.Sprintf(`{"statusCode":401,"message":"bad key %s"}`, testSubKey)
			}
		}},
		{"token 500 always", func(f *fakeSherweb, cfg *Config) {
			f.tokenFail = func(int) (int, string) { return 500, "internal " + testSecret }
		}},
		{"token endpoint unreachable", func(f *fakeSherweb, cfg *Config) { cfg.BaseURL = "http://127.0.0.1:1/" + testSecret }},
		{"api 403 echo", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 403, echo(r)) })
		}},
		{"api 500 echo text", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				fmt.Fprintf(w, "boom %s %s %s", testSecret, testSubKey, r.Header.Get("Authorization"))
			})
		}},
		{"api 401 twice echo", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, echo(r)) })
		}},
		{"api 429 too long", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "99999")
				writeJSON(w, 429, echo(r))
			})
		}},
		{"bad data echo", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, fmt.Sprintf(`{"items":[{"id":"1","displayName":%q,"suspendedOn":%q}]}`, testSecret, r.Header.Get("Authorization")))
			})
		}},
		{"malformed echo", func(f *fakeSherweb, cfg *Config) {
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"items":[`+testSecret)
			})
		}},
		{"stall", func(f *fakeSherweb, cfg *Config) {
			cfg.RequestTimeout = 100 * time.Millisecond
			cfg.MaxAttempts = 2
			f.handle(pathCustomers, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		}},
	} {
		t.Run(p.name, func(t *testing.T) {
			f := newFake(t)
			var s sleeps
			cfg := testConfig(f, &s)
			cfg.Logger = logger
			p.setup(f, &cfg)
			c, err := New(context.Background(), cfg)
			if err == nil {
				_, err = c.Customers(context.Background())
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
			for _, secret := range []string{testSecret, testSubKey, testTokenMark} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows %q: %s", secret, msg)
				}
			}
		})
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{testSecret, testSubKey, testTokenMark} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs show %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("expected retry log lines, got:\n%s", logs.String())
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestReceivablesAndSubscriptionsRequests(t *testing.T) {
	f := newFake(t)
	var queries sync.Map
	f.handle(pathReceivables, func(w http.ResponseWriter, r *http.Request) {
		queries.Store("rc", r.URL.RawQuery)
		writeJSON(w, 200, `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[{"sku":"S","chargeName":"c","quantity":3,"costPrice":4.00,"costPriceProrated":4.00,"currency":"CAD"}]}`)
	})
	f.handle(pathSubs, func(w http.ResponseWriter, r *http.Request) {
		queries.Store("subs", r.URL.RawQuery)
		writeJSON(w, 200, `{"items":null}`)
	})
	var s sleeps
	c := newTestClient(t, testConfig(f, &s))
	p, lines, err := c.ReceivableCharges(context.Background(), "9d0c6a1e", "2024-03-17")
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "2024-03-01..2024-03-31" || len(lines) != 1 || billing.Text(lines[0].Amount()) != "12.00" {
		t.Errorf("got %v %+v", p, lines)
	}
	subs, err := c.Subscriptions(context.Background(), "9d0c6a1e")
	if err != nil || len(subs) != 0 {
		t.Fatalf("subs = %v, %v", subs, err)
	}
	if q, _ := queries.Load("rc"); q != "customerId=9d0c6a1e&date=2024-03-17" {
		t.Errorf("receivables query = %q", q)
	}
	if q, _ := queries.Load("subs"); q != "customerId=9d0c6a1e" {
		t.Errorf("subscriptions query = %q", q)
	}
	if _, _, err := c.ReceivableCharges(context.Background(), " ", ""); err == nil {
		t.Error("empty customer id accepted")
	}
	f.assertHeaders(t)
}

// The default transport keeps a connection per call in flight: 8 fetchers,
// each doing a little work between its calls (as the fan-out's decode and
// store), open about 9 connections for 400 calls. With
// http.DefaultTransport's 2 idle connections a host, a call that ended while
// two were idle closed its connection and a later one dialled again (against
// the real API: a new TLS handshake each time): 108 to 152 in five runs.
func TestDefaultTransportKeepsConnections(t *testing.T) {
	f := newFake(t)
	f.handle(pathReceivables, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		writeJSON(w, 200, `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[]}`)
	})
	var s sleeps
	cfg := testConfig(f, &s)
	cfg.HTTPClient, cfg.InFlight = nil, 8 // the default transport
	c := newTestClient(t, cfg)
	var g errgroup.Group
	for i := range 8 {
		g.Go(func() error {
			for j := range 50 {
				if _, _, err := c.ReceivableCharges(context.Background(), fmt.Sprintf("c%d-%d", i, j), "2024-03-17"); err != nil {
					return err
				}
				time.Sleep(time.Duration(i*j%3) * time.Millisecond) // the work between calls
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := f.calls(pathReceivables); got != 400 {
		t.Fatalf("%d receivables calls, want 400", got)
	}
	// At most one per call in flight and the token request's, plus a few
	// dialled at the start while a connection was coming back.
	if n := f.conns.Load(); n > 16 {
		t.Errorf("%d connections for 400 calls, 8 in flight: want at most 16", n)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&APIError{StatusCode: 429}, true},
		{&APIError{StatusCode: 500}, true},
		{&APIError{StatusCode: 503}, true},
		{&APIError{StatusCode: 501}, false},
		{&APIError{StatusCode: 404}, false},
		{fmt.Errorf("wrapped: %w", &APIError{StatusCode: 502}), true},
		{&RateLimitError{}, false},
		{&DecodeError{Err: errTruncated}, false},
		{&AuthError{StatusCode: 401}, false},
		{&transportError{msg: "reset", err: errors.New("reset")}, true},
		{&transportError{msg: "stalled", err: errStalled}, true},
		{fmt.Errorf("x: %w", errTruncated), true},
		{context.Canceled, false},
		{fmt.Errorf("GET /x: %w", context.DeadlineExceeded), false},
		{&handlerError{errors.New("disk full")}, false},
		{nil, false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2024, 3, 17, 12, 0, 0, 0, time.UTC)
	h := func(v string) http.Header { return http.Header{"Retry-After": []string{v}} }
	for _, tc := range []struct {
		h    http.Header
		body string
		want time.Duration
		ok   bool
	}{
		{h("5"), `Try again in 30 seconds`, 5 * time.Second, true},
		{h("0"), ``, 0, true},
		{h(now.Add(-time.Minute).Format(http.TimeFormat)), ``, 0, true},
		{h("soon"), `{"detail":"Rate limit is exceeded. Try again in 1 second."}`, time.Second, true},
		{http.Header{}, `{"message":"try again in 45 seconds"}`, 45 * time.Second, true},
		{http.Header{}, `{"message":"busy"}`, 0, false},
	} {
		got, ok := retryAfter(tc.h, []byte(tc.body), now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%v, %q) = %v, %v; want %v, %v", tc.h, tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
