package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// request is one API call: a GET of path?query with a token of scope.
type request struct {
	scope string
	path  string
	query url.Values
}

// outcome is the result of one attempt.
type outcome struct {
	err     error
	status  int           // HTTP status, 0 when no response
	wait    time.Duration // server-requested wait (Retry-After or "Try again in N seconds")
	hasWait bool
}

// do runs r with retries. handle reads a 2xx body; its error decides whether
// the attempt is retried (see Retryable). This is the only retry loop for API
// calls; the token endpoint has its own in auth.go using the same backoff.
//
// Policy: only GETs. 429, 5xx except 501, timeouts, connection failures and
// truncated bodies are retried up to MaxAttempts. The wait is the server's
// Retry-After (seconds or HTTP date), else the "Try again in N seconds" of the
// error text, else full-jitter exponential backoff; never more than MaxWait.
// A 429 asking for more than MaxWait fails at once with *RateLimitError. A 429
// also holds off every other request of the client until the wait is over. A
// 401 drops the cached token, mints a new one and retries once; a second 401
// is final. Every attempt first waits for the client's adaptive limiter
// (ratelimit.go), which each 429 lowers and each other answer feeds.
func (c *Client) do(ctx context.Context, r request, handle func(io.Reader) error) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("GET %s: %w", r.path, err)
		}
		if err := c.holdOff(ctx); err != nil {
			return fmt.Errorf("GET %s: %w", r.path, err)
		}
		tok, err := c.tokens[r.scope].get(ctx)
		if err != nil {
			return fmt.Errorf("GET %s: %w", r.path, err)
		}
		nb := c.notBefore.Load()
		if err := c.limiter.wait(ctx); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("GET %s: rate limiter: %w", r.path, err)
		}
		if c.notBefore.Load() != nb {
			// A 429 arrived while this request waited for its turn.
			if err := c.holdOff(ctx); err != nil {
				return fmt.Errorf("GET %s: %w", r.path, err)
			}
		}

		sent := c.limiter.now()
		out := c.attempt(ctx, r, tok, handle)
		switch out.status {
		case 0:
		case http.StatusTooManyRequests:
			c.limiter.limited(sent, c.limiter.now())
		default:
			c.limiter.accepted(c.limiter.now())
		}
		if out.err == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("GET %s: %w", r.path, err)
		}
		if out.status == http.StatusUnauthorized && !refreshed {
			refreshed = true
			c.retries.Add(1)
			c.log.Info("access token rejected; minting a new one", "endpoint", r.path, "status", out.status, "attempt", attempt)
			if err := c.tokens[r.scope].invalidate(ctx, tok); err != nil {
				return fmt.Errorf("GET %s: %w", r.path, err)
			}
			attempt-- // the forced refresh does not use up an attempt
			continue
		}
		if !Retryable(out.err) {
			return finalError(r.path, out.err)
		}
		if attempt >= c.cfg.MaxAttempts {
			c.log.Warn("giving up", "endpoint", r.path, "status", out.status, "attempts", attempt, "error", out.err.Error())
			var api *APIError
			if errors.As(out.err, &api) {
				return fmt.Errorf("giving up after %d attempts: %w", attempt, out.err)
			}
			return fmt.Errorf("GET %s: giving up after %d attempts: %w", r.path, attempt, out.err)
		}

		wait := c.backoff(attempt)
		if out.hasWait {
			if out.status == http.StatusTooManyRequests && out.wait > c.cfg.MaxWait {
				c.log.Warn("rate limited for longer than the maximum wait", "endpoint", r.path, "retry_after", out.wait, "max_wait", c.cfg.MaxWait)
				return &RateLimitError{Endpoint: r.path, RetryAfter: out.wait, MaxWait: c.cfg.MaxWait}
			}
			wait = min(out.wait+c.jitter(), c.cfg.MaxWait)
		}
		c.retries.Add(1)
		c.log.Info("retrying request", "endpoint", r.path, "status", out.status, "attempt", attempt, "wait", wait, "error", out.err.Error())
		if out.status == http.StatusTooManyRequests {
			// Everyone waits: holdOff at the top of the loop does the sleeping.
			c.setNotBefore(c.now().Add(wait))
			c.limiter.holdOff(wait)
			continue
		}
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("GET %s: %w", r.path, err)
		}
	}
}

// finalError adds the method and path unless err already names them.
func finalError(path string, err error) error {
	var api *APIError
	var de *DecodeError
	var rl *RateLimitError
	if errors.As(err, &api) || errors.As(err, &de) || errors.As(err, &rl) {
		return err
	}
	return fmt.Errorf("GET %s: %w", path, err)
}

// attempt makes one HTTP request. The attempt is cancelled when no response
// headers arrive within RequestTimeout, or when the body then goes
// RequestTimeout without delivering a byte.
func (c *Client) attempt(ctx context.Context, r request, tok string, handle func(io.Reader) error) outcome {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.cfg.RequestTimeout, func() { cancel(errStalled) })
	defer timer.Stop()

	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return outcome{err: fmt.Errorf("build request: %w", err)}
	}
	c.setHeaders(req.Header)
	req.Header.Set("Authorization", "Bearer "+tok)

	c.calls.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return outcome{err: c.transportErr(ctx, actx, err, tok, "no response")}
	}
	defer resp.Body.Close()
	timer.Reset(c.cfg.RequestTimeout)
	body := &idleReader{r: resp.Body, timer: timer, c: c, ctx: ctx, actx: actx, tok: tok}

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if err := handle(body); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				c.redactDecodeError(de, tok)
			}
			return outcome{err: err, status: resp.StatusCode}
		}
		return outcome{status: resp.StatusCode}
	}

	if resp.StatusCode == http.StatusTooManyRequests {
		c.rateLimited.Add(1)
	}
	b, _ := io.ReadAll(io.LimitReader(body, min(c.cfg.MaxBodyBytes, 1<<20)))
	api := &APIError{Method: http.MethodGet, Endpoint: r.path, StatusCode: resp.StatusCode}
	parseErrorBody(api, b)
	api.Title = c.redact(api.Title, tok)
	api.Message = c.redact(api.Message, tok)
	api.TraceID = c.redact(api.TraceID, tok)
	wait, ok := retryAfter(resp.Header, b, c.now())
	return outcome{err: api, status: resp.StatusCode, wait: wait, hasWait: ok}
}

// transportErr classifies a failure to get or read a response: the caller's
// cancellation (not retryable), a stall, or a connection failure (retryable).
func (c *Client) transportErr(ctx, actx context.Context, err error, tok, what string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(context.Cause(actx), errStalled) {
		return &transportError{msg: fmt.Sprintf("%s within %s (RequestTimeout)", what, c.cfg.RequestTimeout), err: errStalled}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &transportError{msg: c.redact(err.Error(), tok), err: err}
}

// idleReader reads a response body, restarting the attempt's timer on every
// read that makes progress, and turns read failures into classified errors.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	c     *Client
	ctx   context.Context // the caller's
	actx  context.Context // the attempt's
	tok   string
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.c.cfg.RequestTimeout)
	}
	if err != nil && err != io.EOF {
		err = r.c.transportErr(r.ctx, r.actx, err, r.tok, "response body made no progress")
	}
	return n, err
}

// holdOff waits until the shared not-before time set by a 429.
func (c *Client) holdOff(ctx context.Context) error {
	nb := c.notBefore.Load()
	if nb == 0 {
		return nil
	}
	d := time.Unix(0, nb).Sub(c.now())
	if d <= 0 {
		return nil
	}
	return c.sleep(ctx, min(d, c.cfg.MaxWait))
}

// setNotBefore moves the shared not-before time later (never earlier).
func (c *Client) setNotBefore(t time.Time) {
	v := t.UnixNano()
	for {
		old := c.notBefore.Load()
		if old >= v || c.notBefore.CompareAndSwap(old, v) {
			return
		}
	}
}

// backoff is full-jitter exponential backoff for the given (1-based) failed
// attempt: a random wait in [0, min(MaxWait, BaseBackoff·2^(attempt-1))].
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.cfg.MaxWait
	if shift := attempt - 1; shift < 32 {
		if d := c.cfg.BaseBackoff << shift; d > 0 && d < ceil {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// jitter is added to server-requested waits so that clients that were told
// the same Retry-After do not come back in lockstep.
func (c *Client) jitter() time.Duration {
	return time.Duration(rand.Int64N(int64(c.cfg.BaseBackoff)/2 + 1))
}

var tryAgainRE = regexp.MustCompile(`(?i)try again in (\d{1,9}) seconds?`)

// retryAfter reads the server's requested wait: the Retry-After header
// (delay-seconds or HTTP date), else "Try again in N seconds" in the body (the
// ProblemDetails detail or the gateway message).
func retryAfter(h http.Header, body []byte, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			if n > int64(1<<31) {
				n = 1 << 31
			}
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if m := tryAgainRE.FindSubmatch(body); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

// redactDecodeError scrubs secrets from the data-derived parts of a
// DecodeError (a server echoing a key or token back inside a record).
func (c *Client) redactDecodeError(de *DecodeError, tok string) {
	de.Record = c.redact(de.Record, tok)
	de.Value = c.redact(de.Value, tok)
	if iv, ok := de.Err.(*invalidValueError); ok {
		iv.value = c.redact(iv.value, tok)
	} else if de.Err != nil {
		if s := de.Err.Error(); c.redact(s, tok) != s {
			de.Err = &redactedError{msg: c.redact(s, tok), err: de.Err}
		}
	}
}
