package sherwebsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestRateLimitEvery(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 6, Faults: Faults{RateLimitEvery: 3, RetryAfter: "7"}})
	tok := e.token("service-provider")
	var got []int
	var bodies [][]byte
	for i := 0; i < 6; i++ {
		r := e.get(PathCustomers, tok)
		got = append(got, r.status)
		if r.status == 429 {
			if ra := r.header.Get("Retry-After"); ra != "7" {
				t.Errorf("Retry-After = %q, want 7", ra)
			}
			if !bytes.Contains(r.body, []byte("Try again in 7 seconds.")) {
				t.Errorf("429 body %s", r.body)
			}
			bodies = append(bodies, r.body)
		}
	}
	if want := []int{200, 200, 429, 200, 200, 429}; !equalInts(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	// The two body shapes alternate: ProblemDetails, then APIM.
	var pd struct {
		Title  string
		Status int
		Detail string
	}
	var apim struct {
		StatusCode int
		Message    string
	}
	if err := json.Unmarshal(bodies[0], &pd); err != nil || pd.Status != 429 || pd.Title != "Too Many Requests" || pd.Detail == "" {
		t.Errorf("first 429 is not ProblemDetails: %s", bodies[0])
	}
	if err := json.Unmarshal(bodies[1], &apim); err != nil || apim.StatusCode != 429 || apim.Message == "" {
		t.Errorf("second 429 is not the APIM shape: %s", bodies[1])
	}
	if st := e.sim.Stats(); st.RateLimited != 2 || st.Calls != 6 || st.TokenRequests != 1 {
		t.Errorf("stats %+v", st)
	}

	// No header when RetryAfter is "", an HTTP-date is passed through.
	date := e.clock.Now().Add(5 * time.Second).Format(http.TimeFormat)
	for _, ra := range []string{"", date} {
		e.sim.SetFaults(Faults{RateLimitEvery: 1, RetryAfter: ra})
		r := e.get(PathCustomers, tok)
		if r.status != 429 || r.header.Get("Retry-After") != ra {
			t.Errorf("RetryAfter %q: got %d Retry-After %q", ra, r.status, r.header.Get("Retry-After"))
		}
		if ra == date && !bytes.Contains(r.body, []byte("Try again in 5 seconds.")) {
			t.Errorf("HTTP-date body %s", r.body)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStormAndRandom5xx(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 6, Faults: Faults{StormFraction: 1, StormFor: time.Minute, RetryAfter: "1"}})
	tok := e.token("service-provider")
	for i := 0; i < 3; i++ {
		if r := e.get(PathCustomers, tok); r.status != 429 {
			t.Fatalf("storm call %d: %s", i, r)
		}
	}
	e.clock.Advance(time.Minute)
	if r := e.get(PathCustomers, tok); r.status != 200 {
		t.Errorf("after the storm: %s", r)
	}

	e.sim.SetFaults(Faults{StormFraction: 0.5, StormFor: time.Hour})
	n429 := 0
	for i := 0; i < 40; i++ {
		if e.get(PathCustomers, tok).status == 429 {
			n429++
		}
	}
	if n429 == 0 || n429 == 40 {
		t.Errorf("storm of 0.5 limited %d of 40 calls", n429)
	}

	e.sim.SetFaults(Faults{Random5xx: 1})
	seen := map[int]bool{}
	for i := 0; i < 30; i++ {
		r := e.get(PathCustomers, tok)
		if r.status < 500 {
			t.Fatalf("Random5xx 1: %s", r)
		}
		seen[r.status] = true
	}
	if !seen[500] || !seen[502] || !seen[503] {
		t.Errorf("5xx statuses seen: %v", seen)
	}
	if st := e.sim.Stats(); st.Errors5xx != 30 {
		t.Errorf("Errors5xx = %d", st.Errors5xx)
	}
}

func TestServerRateLimit(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 4, Faults: Faults{RateLimit: 0.5}})
	tok := e.token("service-provider")
	if r := e.get(PathCustomers, tok); r.status != 200 {
		t.Fatalf("first call: %s", r)
	}
	r := e.get(PathCustomers, tok) // the bucket (burst 1) refills in 2 s
	if r.status != 429 || r.header.Get("Retry-After") != "2" || !bytes.Contains(r.body, []byte("Try again in 2 seconds.")) {
		t.Errorf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}

func TestCustomerFaults(t *testing.T) {
	e := newEnv(t, Config{Seed: 2, Customers: 10})
	cs := e.sim.Customers()
	e.sim.SetFaults(Faults{
		FailCustomerOnce:   []string{cs[0].ID},
		FailCustomerAlways: []string{cs[1].ID},
		PeriodDiffersFor:   []string{cs[2].ID},
		TruncateReceivable: []string{cs[3].ID},
	})
	tok := e.token("service-provider")
	get := func(i int) response { return e.get(receivablePath(cs[i].ID, "2026-10-15"), tok) }

	if r := get(0); r.status != 500 {
		t.Errorf("fail once, first: %s", r)
	}
	if r := get(0); r.status != 200 {
		t.Errorf("fail once, second: %s", r)
	}
	for i := 0; i < 2; i++ {
		r := get(1)
		if r.status != 503 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("fail always: %d %s", r.status, r.header.Get("Content-Type"))
		}
	}
	rb := decode[receivableBody](t, get(2))
	if rb.PeriodFrom != "2026-09-01" || rb.PeriodTo != "2026-09-30" {
		t.Errorf("period differs: got %s..%s, want September", rb.PeriodFrom, rb.PeriodTo)
	}
	if len(rb.Charges) != len(e.sim.Receivables(cs[2].ID, billing.Period{From: "2026-09-01", To: "2026-09-30"})) {
		t.Error("period-differing customer is not served September's lines")
	}
	r := get(3)
	if !errors.Is(r.readErr, io.ErrUnexpectedEOF) {
		t.Errorf("truncated receivable: read error %v, want unexpected EOF", r.readErr)
	}
	if err := json.Unmarshal(r.body, new(receivableBody)); err == nil {
		t.Error("truncated body decodes")
	}
	decode[receivableBody](t, get(3)) // the second request is whole
	truth := e.sim.Truth(e.sim.DefaultPeriod())
	if truth.Missing[cs[1].ID] != reasonFetchFailed || truth.Missing[cs[2].ID] != reasonPeriodDiffers || len(truth.Missing) != 2 {
		t.Errorf("truth missing = %v", truth.Missing)
	}
	if st := e.sim.Stats(); st.Truncated != 1 {
		t.Errorf("Truncated = %d", st.Truncated)
	}
}

func TestTokenFaults(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Customers: 6, Faults: Faults{TokenFailures: 2, RevokeTokensAfter: 2}})
	for i := 0; i < 2; i++ {
		if r := e.tokenResp(goodForm("service-provider"), "sim-key"); r.status != 503 {
			t.Errorf("token request %d: %s", i, r)
		}
	}
	old := e.token("service-provider")
	for i := 0; i < 2; i++ {
		if r := e.get(PathCustomers, old); r.status != 200 {
			t.Errorf("call %d before revocation: %s", i, r)
		}
	}
	if r := e.get(PathCustomers, old); r.status != 401 || !bytes.Contains(r.body, []byte("revoked")) {
		t.Errorf("call after revocation: %s", r)
	}
	fresh := e.token("service-provider")
	for i := 0; i < 3; i++ {
		if r := e.get(PathCustomers, fresh); r.status != 200 {
			t.Errorf("new token call %d: %s", i, r)
		}
	}
	if st := e.sim.Stats(); st.Unauthorized != 1 || st.Errors5xx != 2 || st.TokenRequests != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestPayableTruncation(t *testing.T) {
	for _, mode := range []string{"once", "always"} {
		e := newEnv(t, Config{Seed: 4, Customers: 8, Faults: Faults{TruncatePayable: mode}})
		tok := e.token("distributor")
		r := e.get(payablePath("2026-10-01"), tok)
		if !errors.Is(r.readErr, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: read error %v, want unexpected EOF", mode, r.readErr)
		}
		if !bytes.Contains(r.body, []byte(`"charges":[{`)) {
			t.Errorf("%s: the cut is not mid-array: %.100s", mode, r.body)
		}
		// A streaming decoder also fails.
		dec := json.NewDecoder(bytes.NewReader(r.body))
		if err := dec.Decode(new(payableBody)); err == nil {
			t.Errorf("%s: truncated body decodes", mode)
		}
		r2 := e.get(payablePath("2026-10-01"), tok)
		if mode == "once" {
			decode[payableBody](t, r2)
		} else if r2.readErr == nil {
			t.Errorf("always: second read succeeded")
		}
	}
}

func TestMalformedPayable(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		check func(t *testing.T, body []byte, truth *Truth)
	}{
		{"bad_money", func(t *testing.T, body []byte, _ *Truth) {
			if err := json.Unmarshal(body, new(payableBody)); err == nil || !bytes.Contains(body, []byte(`"subTotal":"abc"`)) {
				t.Errorf("bad_money decodes: %v", err)
			}
		}},
		{"null_money", func(t *testing.T, body []byte, _ *Truth) {
			var pb payableBody
			if err := json.Unmarshal(body, &pb); err != nil {
				t.Fatal(err)
			}
			invalid := 0
			for _, c := range pb.Charges {
				if c.Validate() != nil {
					invalid++
					if c.SubTotal.Valid {
						t.Error("null subTotal decoded as a value")
					}
				}
			}
			if invalid != 1 {
				t.Errorf("%d invalid lines, want 1", invalid)
			}
		}},
		{"bad_json", func(t *testing.T, body []byte, _ *Truth) {
			var se *json.SyntaxError
			if err := json.Unmarshal(body, new(payableBody)); !errors.As(err, &se) {
				t.Errorf("bad_json: err %v, want a syntax error", err)
			}
		}},
		{"unknown_enum", func(t *testing.T, body []byte, truth *Truth) {
			var pb payableBody
			if err := json.Unmarshal(body, &pb); err != nil {
				t.Fatal(err)
			}
			promo := 0
			for _, c := range pb.Charges {
				if c.ChargeType == "Promotion" {
					promo++
				}
			}
			found := false
			for _, f := range truth.Findings {
				found = found || f.ChargeType == "Promotion"
			}
			if promo != 1 || !found {
				t.Errorf("Promotion lines %d, in truth %v", promo, found)
			}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e := newEnv(t, Config{Seed: 4, Customers: 8, Faults: Faults{MalformedPayable: tc.mode}})
			r := e.get(payablePath("2026-10-01"), e.token("distributor"))
			if r.status != 200 || r.readErr != nil {
				t.Fatalf("%s", r)
			}
			tc.check(t, r.body, e.sim.Truth(e.sim.DefaultPeriod()))
		})
	}
}

func TestStallsAndLatencyStillServe(t *testing.T) {
	e := newEnv(t, Config{Seed: 4, Customers: 8, Faults: Faults{
		StallBeforeHeaders: 20 * time.Millisecond, StallMidBody: 20 * time.Millisecond,
		Latency: time.Millisecond, TokenLatency: time.Millisecond,
	}})
	tok := e.token("distributor")
	clean := newEnv(t, Config{Seed: 4, Customers: 8})
	want := clean.get(payablePath("2026-10-01"), clean.token("distributor")).body
	for i := 0; i < 2; i++ {
		if r := e.get(payablePath("2026-10-01"), tok); r.status != 200 || !bytes.Equal(r.body, want) {
			t.Errorf("request %d under stalls: %d, body equal %v", i, r.status, bytes.Equal(r.body, want))
		}
	}
}
