package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// The only write the tool ever makes to Sherweb: CreateSubscriptionsAmendment
// (sherweb-api.md §2.5), and the status read that tracks it (§2.6).
const pathAmendments = "/service-provider/v1/billing/subscriptions/amendments"

// AmendmentParam is one entry of an amendment: a subscription and its new
// absolute quantity (not a delta).
type AmendmentParam struct {
	SubscriptionID string `json:"subscriptionId"`
	NewQuantity    int32  `json:"newQuantity"`
}

// AmendmentRequestBody is the JSON body CreateAmendment sends for params
// (also what a dry run shows and the ledger records).
func AmendmentRequestBody(params []AmendmentParam) ([]byte, error) {
	body := struct {
		Params []AmendmentParam `json:"subscriptionAmendmentParameters"`
	}{params}
	return json.Marshal(body)
}

// OutcomeUnknownError is returned by CreateAmendment when the request was
// sent but no definite answer came back (a 5xx, a timeout, a connection cut
// after the request was written, an unreadable 2xx): the server may or may
// not have accepted the amendment. It is never retried.
type OutcomeUnknownError struct {
	CustomerID string
	Err        error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("POST %s (customer %s): outcome unknown (the request was sent; it may or may not have been applied): %v", pathAmendments, e.CustomerID, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// CreateAmendment posts one amendment for a customer and returns its
// subscriptionsAmendmentId.
//
// Retry rules (unlike the GETs): a 429 is retried after its Retry-After (it
// was refused before being accepted), a 401 once with a new token, and a
// connection failure only when the request was never written. A 5xx, a
// timeout or a connection cut after the request was written is an
// *OutcomeUnknownError and is never re-posted. Another 4xx is an *APIError:
// refused, nothing applied.
func (c *Client) CreateAmendment(ctx context.Context, customerID string, params []AmendmentParam) (string, error) {
	if strings.TrimSpace(customerID) == "" {
		return "", errors.New("create amendment: empty customer id")
	}
	if len(params) == 0 {
		return "", errors.New("create amendment: no entries")
	}
	body, err := AmendmentRequestBody(params)
	if err != nil {
		return "", fmt.Errorf("create amendment: encode body: %w", err)
	}
	q := url.Values{}
	q.Set("customerId", customerID)
	u := c.base + pathAmendments + "?" + q.Encode()
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := c.holdOff(ctx); err != nil {
			return "", fmt.Errorf("POST %s: %w", pathAmendments, err)
		}
		tok, err := c.tokens[scopeServiceProvider].get(ctx)
		if err != nil {
			return "", fmt.Errorf("POST %s: %w", pathAmendments, err)
		}
		if err := c.limiter.wait(ctx); err != nil {
			return "", fmt.Errorf("POST %s: rate limiter: %w", pathAmendments, err)
		}
		id, out := c.postOnce(ctx, u, tok, body, customerID)
		if out.err == nil {
			c.limiter.accepted(c.limiter.now())
			return id, nil
		}
		var unknown *OutcomeUnknownError
		if errors.As(out.err, &unknown) {
			return "", out.err
		}
		switch {
		case out.status == http.StatusUnauthorized && !refreshed:
			refreshed = true
			c.retries.Add(1)
			if err := c.tokens[scopeServiceProvider].invalidate(ctx, tok); err != nil {
				return "", fmt.Errorf("POST %s: %w", pathAmendments, err)
			}
			attempt--
			continue
		case out.status == http.StatusTooManyRequests, out.status == 0 && Retryable(out.err):
			// Refused before acceptance, or never sent: safe to send again.
		default:
			return "", out.err
		}
		if attempt >= c.cfg.MaxAttempts {
			return "", fmt.Errorf("POST %s: giving up after %d attempts: %w", pathAmendments, attempt, out.err)
		}
		wait := c.backoff(attempt)
		if out.hasWait {
			if out.wait > c.cfg.MaxWait {
				return "", &RateLimitError{Endpoint: pathAmendments, RetryAfter: out.wait, MaxWait: c.cfg.MaxWait}
			}
			wait = min(out.wait+c.jitter(), c.cfg.MaxWait)
		}
		c.retries.Add(1)
		c.log.Info("retrying amendment POST (not accepted)", "status", out.status, "attempt", attempt, "wait", wait, "error", out.err.Error())
		if out.status == http.StatusTooManyRequests {
			c.limiter.limited(time.Now(), c.limiter.now())
			c.setNotBefore(c.now().Add(wait))
			continue
		}
		if err := c.sleep(ctx, wait); err != nil {
			return "", fmt.Errorf("POST %s: %w", pathAmendments, err)
		}
	}
}

// postOnce makes one POST. out.err is an *OutcomeUnknownError when the
// request was written and no definite answer came back.
func (c *Client) postOnce(ctx context.Context, u, tok string, body []byte, customerID string) (string, outcome) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var wrote atomic.Bool // set by the transport's write loop
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", outcome{err: fmt.Errorf("build request: %w", err)}
	}
	c.setHeaders(req.Header)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	c.calls.Add(1)
	unknown := func(err error) outcome {
		return outcome{err: &OutcomeUnknownError{CustomerID: customerID, Err: err}}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		terr := c.transportErr(ctx, actx, err, tok, "no response")
		if actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			terr = &transportError{msg: fmt.Sprintf("no response within %s (RequestTimeout)", c.cfg.RequestTimeout), err: errStalled}
		}
		if wrote.Load() {
			return "", unknown(terr)
		}
		return "", outcome{err: terr}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if rerr != nil {
			return "", unknown(fmt.Errorf("%d answer unreadable: %v", resp.StatusCode, c.redact(rerr.Error(), tok)))
		}
		var r struct {
			ID string `json:"subscriptionsAmendmentId"`
		}
		if err := json.Unmarshal(b, &r); err != nil || strings.TrimSpace(r.ID) == "" {
			return "", unknown(fmt.Errorf("%d answer without a subscriptionsAmendmentId: %q", resp.StatusCode, snippet(c.redact(string(b), tok), 200)))
		}
		return r.ID, outcome{status: resp.StatusCode}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		c.rateLimited.Add(1)
	}
	api := &APIError{Method: http.MethodPost, Endpoint: pathAmendments, StatusCode: resp.StatusCode}
	parseErrorBody(api, b)
	api.Title = c.redact(api.Title, tok)
	api.Message = c.redact(api.Message, tok)
	api.TraceID = c.redact(api.TraceID, tok)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
		return "", unknown(api)
	}
	wait, ok := retryAfter(resp.Header, b, c.now())
	return "", outcome{err: api, status: resp.StatusCode, wait: wait, hasWait: ok}
}

// AmendmentStatus returns the status of an amendment (a bare JSON string:
// Pending, Processing, Success, Failure, Canceled or PartialSuccess). It is
// a GET, retried like every other.
func (c *Client) AmendmentStatus(ctx context.Context, amendmentID string) (string, error) {
	id := strings.TrimSpace(amendmentID)
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", fmt.Errorf("amendment status: invalid amendment id %q", amendmentID)
	}
	path := pathAmendments + "/" + url.PathEscape(id) + "/status"
	var status string
	err := c.do(ctx, request{scope: scopeServiceProvider, path: path}, func(body io.Reader) error {
		b, err := c.readAll(body, path)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &status); err != nil {
			return &DecodeError{Endpoint: path, Err: fmt.Errorf("status is not a JSON string: %w", err)}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return status, nil
}
