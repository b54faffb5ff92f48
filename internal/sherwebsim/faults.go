package sherwebsim

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Faults are the failure knobs of the simulator. The zero value is a healthy
// server. "API calls" are every request except the token endpoint.
type Faults struct {
	// RateLimitEvery makes every Nth API call answer 429.
	RateLimitEvery int
	// RetryAfter is the Retry-After header of the 429s of RateLimitEvery and
	// StormFraction ("" omits the header; "1", "3600" or an HTTP-date). The
	// body always says "Try again in N seconds." and alternates between the
	// ProblemDetails {title,status,detail} and APIM {statusCode,message} shapes.
	RetryAfter string
	// StormFraction of the API calls answer 429 (seeded) during StormFor
	// after the first API call; then the server is normal.
	StormFraction float64
	StormFor      time.Duration
	// RateLimit is a server-side limit in requests/s (token bucket with a
	// burst of about one second). Calls over it answer 429 with Retry-After
	// (whole seconds, rounded up). 0 = none. It uses the real clock.
	RateLimit float64
	// Random5xx is the fraction of API calls that answer 500, 502 or 503 (seeded).
	Random5xx float64
	// FailCustomerOnce: the receivables of these customer ids answer 500 on
	// their first request only.
	FailCustomerOnce []string
	// FailCustomerAlways: the receivables of these customer ids always answer
	// 503 (ProblemDetails).
	FailCustomerAlways []string
	// PeriodDiffersFor: the receivables of these customers are those of the
	// previous month (periodFrom/periodTo of the previous month).
	PeriodDiffersFor []string
	// RevokeTokensAfter: after N API calls, every token issued so far is
	// revoked (401); tokens issued later work. It happens once.
	RevokeTokensAfter int
	// TokenFailures: the first N token requests answer 503.
	TokenFailures int
	// TokenLatency is added before every token response.
	TokenLatency time.Duration
	// Latency is added before every API response.
	Latency time.Duration
	// StallBeforeHeaders: the first API call to each URL path stalls this long
	// before anything is written.
	StallBeforeHeaders time.Duration
	// StallMidBody: the first payable response writes about half its body,
	// flushes it, stalls this long, then continues.
	StallMidBody time.Duration
	// TruncatePayable ("", "once" or "always"): the payable body is cut
	// mid-array and the connection closed (the client reads an unexpected EOF).
	TruncatePayable string
	// TruncateReceivable: the receivables of these customers are cut mid-body
	// on their first request.
	TruncateReceivable []string
	// MalformedPayable corrupts the first partner-level line of the payable
	// body (in the middle of the array): "bad_money" (subTotal "abc"),
	// "null_money" (subTotal null), "bad_json" (a syntax error) or
	// "unknown_enum" (chargeType "Promotion", legal: enums are open; Truth
	// reflects it).
	MalformedPayable string
	// Shuffle shuffles the order of the charges and customers of every
	// response (seeded per request): customers are permuted and, for
	// payables, the lines within each customer; the multiset is unchanged.
	Shuffle bool
}

// faultState is the bookkeeping of the faults (guarded by Server.mu).
// SetFaults resets it.
type faultState struct {
	firstCall     time.Time
	rng           *rand.Rand
	limiter       *rate.Limiter
	failedOnce    map[string]bool
	truncatedRecv map[string]bool
	stalledPaths  map[string]bool
	payables      int // payable requests so far
	revoked       bool
	callsAtSet    int // Server calls when the faults were set
}

func newFaultState(seed int64, f *Faults, calls int) faultState {
	st := faultState{
		rng:           rand.New(rand.NewPCG(uint64(seed), 0xFA017)),
		failedOnce:    map[string]bool{},
		truncatedRecv: map[string]bool{},
		stalledPaths:  map[string]bool{},
		callsAtSet:    calls,
	}
	if f.RateLimit > 0 {
		st.limiter = rate.NewLimiter(rate.Limit(f.RateLimit), max(1, int(math.Ceil(f.RateLimit))))
	}
	return st
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if equalFoldASCII(x, id) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// limitDecision is whether an API call is rate limited, and how to say so.
type limitDecision struct {
	limited bool
	header  string // Retry-After value, "" = none
	seconds int    // N in "Try again in N seconds."
}

// rateLimit decides, under s.mu, whether API call number n is answered 429.
func (s *Server) rateLimitLocked(f *Faults, n int, now time.Time) limitDecision {
	st := &s.fst
	configured := func() limitDecision {
		return limitDecision{limited: true, header: f.RetryAfter, seconds: retryAfterSeconds(f.RetryAfter, now)}
	}
	if f.RateLimitEvery > 0 && (n-st.callsAtSet)%f.RateLimitEvery == 0 {
		return configured()
	}
	if f.StormFraction > 0 && now.Sub(st.firstCall) < f.StormFor && st.rng.Float64() < f.StormFraction {
		return configured()
	}
	if st.limiter != nil {
		real := time.Now()
		res := st.limiter.ReserveN(real, 1)
		if d := res.DelayFrom(real); d > 0 {
			res.CancelAt(real)
			secs := max(1, int(math.Ceil(d.Seconds())))
			return limitDecision{limited: true, header: strconv.Itoa(secs), seconds: secs}
		}
	}
	return limitDecision{}
}

// retryAfterSeconds is the N of "Try again in N seconds." for a Retry-After value.
func retryAfterSeconds(v string, now time.Time) int {
	if v == "" {
		return 1
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(0, n)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, int(math.Ceil(t.Sub(now).Seconds())))
	}
	return 1
}

// random5xxLocked returns 500, 502 or 503 for the Random5xx fraction, else 0.
func (s *Server) random5xxLocked(f *Faults) int {
	if f.Random5xx <= 0 || s.fst.rng.Float64() >= f.Random5xx {
		return 0
	}
	return [...]int{500, 502, 503}[s.fst.rng.IntN(3)]
}
