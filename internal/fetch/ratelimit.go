package fetch

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The adaptive limiter's tuning. See adaptiveLimiter.
const (
	// cutFactor is the multiplicative decrease: after a 429 the rate becomes
	// cutFactor × the rate the server accepted.
	cutFactor = 0.9
	// raiseFraction is the additive increase: per second of requests without
	// a 429, the rate grows by raiseFraction × the rate set at the last cut.
	raiseFraction = 0.03
	// minCutSamples: a 429 lowers the rate only when at least this many
	// requests were accepted in the last second. Fewer say nothing about the
	// server's rate (a lone 429, a storm while held off); the shared hold-off
	// deals with those alone.
	minCutSamples = 5
	// minRate is the lowest rate a cut sets, in requests/s.
	minRate = 1.0
	// longWindow: the accepted rate between two consecutive 429 events is
	// used when they are at most this far apart.
	longWindow = 30 * time.Second

	slotDur   = 50 * time.Millisecond
	slotCount = 40 // 2 s of history; the observed rate uses the last 1 s
	rateSlots = int(time.Second / slotDur)
)

// adaptiveLimiter is the client-side rate limiter shared by every goroutine of
// a Client. It is a token bucket (burst 1, so requests are spread evenly)
// whose rate follows AIMD:
//
//   - It starts at Config.Rate, or unlimited when Rate is 0.
//   - On a 429 (one cut per congestion event: 429s answering requests sent
//     before the previous cut are ignored) the rate becomes cutFactor × the
//     rate the server accepted: the accepted requests of the last second, or,
//     when the previous cut is recent, the accepted requests since that cut
//     divided by the time since it if that is lower. Both ends of that span
//     are moments the server's bucket was empty, so it measures the server's
//     sustained rate without its burst.
//   - While requests flow without 429s (time spent in the shared hold-off
//     does not count) the rate grows by raiseFraction × the rate set at the
//     last cut per second, never above Config.Rate when that is set.
//
// It uses the real clock, not Config.Sleep or the client's clock.
type adaptiveLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	lim     *rate.Limiter
	ceiling float64 // Config.Rate; 0 = none
	cur     float64 // current rate; 0 = unlimited

	step      float64   // additive increase, requests/s per second
	lastRaise time.Time // the increase is computed from here
	holdEnd   time.Time // end of the latest server-requested wait

	cuts       int64
	lastCut    time.Time // time of the last cut (zero = none yet)
	total      int64     // accepted requests since creation
	totalAtCut int64

	slots  [slotCount]int64 // accepted requests per slot
	slotID [slotCount]int64 // which slot (unix time / slotDur) each entry holds
}

func newAdaptiveLimiter(ceiling float64, now func() time.Time) *adaptiveLimiter {
	a := &adaptiveLimiter{now: now, ceiling: ceiling, cur: ceiling}
	a.lim = rate.NewLimiter(a.limit(), 1)
	return a
}

func (a *adaptiveLimiter) limit() rate.Limit {
	if a.cur <= 0 {
		return rate.Inf
	}
	return rate.Limit(a.cur)
}

// Rate is the current limit in requests/s; 0 = unlimited.
func (a *adaptiveLimiter) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// Cuts is how many times a 429 lowered the rate.
func (a *adaptiveLimiter) Cuts() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cuts
}

// wait blocks until the caller may send a request, or ctx is done.
func (a *adaptiveLimiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := a.now()
	r, d := a.reserve(now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(d)) {
		r.CancelAt(now)
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.CancelAt(a.now())
		return ctx.Err()
	}
}

// reserve raises the rate for the time that went by without a 429 and
// reserves a slot, returning the delay before it.
func (a *adaptiveLimiter) reserve(now time.Time) (*rate.Reservation, time.Duration) {
	a.mu.Lock()
	if a.cur > 0 && (a.ceiling == 0 || a.cur < a.ceiling) {
		from := a.lastRaise
		if a.holdEnd.After(from) {
			from = a.holdEnd
		}
		if now.After(from) {
			// An idle gap counts for at most a second: the rate grows with
			// requests that go through, not with time alone.
			dt := min(now.Sub(from), time.Second).Seconds()
			a.cur += a.step * dt
			if a.ceiling > 0 && a.cur > a.ceiling {
				a.cur = a.ceiling
			}
			a.lastRaise = now
			a.lim.SetLimitAt(now, a.limit())
		}
	}
	a.mu.Unlock()
	r := a.lim.ReserveN(now, 1)
	return r, r.DelayFrom(now)
}

// accepted records a response other than 429 at now.
func (a *adaptiveLimiter) accepted(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total++
	id := now.UnixNano() / int64(slotDur)
	i := int(id % slotCount)
	if a.slotID[i] != id {
		a.slotID[i], a.slots[i] = id, 0
	}
	a.slots[i]++
}

// observed returns the requests accepted in about the last second and the
// exact span that count covers.
func (a *adaptiveLimiter) observed(now time.Time) (int64, time.Duration) {
	id := now.UnixNano() / int64(slotDur)
	var n int64
	for k := range int64(rateSlots) {
		i := int((id - k) % slotCount)
		if a.slotID[i] == id-k {
			n += a.slots[i]
		}
	}
	span := time.Duration(rateSlots-1)*slotDur + time.Duration(now.UnixNano()-id*int64(slotDur))
	return n, span
}

// holdOff records that every request waits d from now (a 429's
// Retry-After): that time does not count towards the increase.
func (a *adaptiveLimiter) holdOff(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if end := a.now().Add(d); end.After(a.holdEnd) {
		a.holdEnd = end
	}
}

// limited records a 429 answering a request sent at sent, received at now.
// It lowers the rate once per congestion event.
func (a *adaptiveLimiter) limited(sent, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.lastCut.IsZero() && sent.Before(a.lastCut) {
		return // sent before the last cut: same event
	}
	n, span := a.observed(now)
	if n < minCutSamples {
		return
	}
	base := float64(n) / span.Seconds()
	if !a.lastCut.IsZero() {
		if since := now.Sub(a.lastCut); since > 0 && since <= longWindow {
			long := float64(a.total-a.totalAtCut) / since.Seconds()
			// Below half the recent rate the client was mostly idle or held
			// off, not pressing on the limit: the figure says nothing.
			if long < base && long >= base/2 {
				base = long
			}
		}
	}
	r := cutFactor * base
	if a.cur > 0 {
		r = min(r, a.cur)
	}
	if a.ceiling > 0 {
		r = min(r, a.ceiling)
	}
	r = max(r, minRate)
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return
	}
	a.cur = r
	a.step = raiseFraction * r
	a.lastRaise = now
	a.lastCut = now
	a.totalAtCut = a.total
	a.cuts++
	a.lim.SetLimitAt(now, a.limit())
}
