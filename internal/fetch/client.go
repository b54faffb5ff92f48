package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Config configures a Client. BaseURL, ClientID, ClientSecret and
// SubscriptionKey are required; every other field has a default.
type Config struct {
	// BaseURL is the API gateway, e.g. "https://api.sherweb.com". The APIs are
	// at {base}/distributor/v1 and {base}/service-provider/v1, the token
	// endpoint at {base}/auth/oidc/connect/token. Plain http:// is refused
	// unless the host is a loopback address.
	BaseURL                                 string
	ClientID, ClientSecret, SubscriptionKey string

	// HTTPClient is an optional base client: its Transport (and
	// CheckRedirect) are used for token and API calls. Its Timeout is not
	// used; see RequestTimeout. Default: NewTransport(InFlight).
	HTTPClient *http.Client
	// InFlight is how many API calls the caller makes at once (the
	// customers' fan-out's concurrency). The default transport keeps that
	// many connections (plus one for the token endpoint) open between calls.
	// Default 8.
	InFlight int

	// RequestTimeout bounds each attempt: the time to the response headers,
	// and then the longest time the body may go without delivering a byte.
	// A large body may take longer in total. Default 60s.
	RequestTimeout time.Duration
	// TokenTimeout bounds each token endpoint request. Default 30s.
	TokenTimeout time.Duration
	// MaxAttempts caps the attempts per request. Default 6.
	MaxAttempts int
	// MaxWait caps any single wait (Retry-After or backoff). A 429 asking for
	// longer fails at once with a *RateLimitError. Default 60s.
	MaxWait time.Duration
	// BaseBackoff is the base of the full-jitter exponential backoff.
	// Default 500ms.
	BaseBackoff time.Duration
	// Rate limits requests per second across all goroutines. 0 = unlimited
	// until the first 429, then learned from the 429s. Either way a 429 lowers
	// the rate and it creeps back up while none arrive, never above Rate when
	// set (see ratelimit.go).
	Rate float64
	// MaxBodyBytes limits bodies that are read whole (customers,
	// receivables, subscriptions, error bodies). Default 256 MiB.
	MaxBodyBytes int64
	// AcceptLanguage is sent on every request. Default "en".
	AcceptLanguage string
	// Logger receives retry and token events (never secrets). Default: discard.
	Logger *slog.Logger
	// Sleep waits d or until ctx is done. Default: a context-aware timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// PlainDecoder turns off the hand-written fast paths of the payable,
	// receivables and subscriptions decoders, so everything is decoded by
	// encoding/json (the reference the fast paths must agree with; the
	// result is the same). For tests and benchmarks.
	PlainDecoder bool
}

// Stats are counters since the client was created.
type Stats struct {
	Calls         int64 // HTTP attempts to the APIs (token requests excluded)
	Retries       int64 // attempts repeated after a retryable failure or a 401
	TokenRequests int64 // token endpoint requests
	RateLimited   int64 // 429 answers received (APIs and token endpoint)
	// Rate is the client-side limit now, in requests/s; 0 = unlimited.
	Rate float64
	// RateCuts is how many times a 429 lowered the client-side limit.
	RateCuts int64
}

// Client calls the Sherweb Distributor and Service Provider APIs. It is safe
// for concurrent use. Create one with New.
type Client struct {
	cfg     Config
	base    string // BaseURL without a trailing "/"
	hc      *http.Client
	limiter *adaptiveLimiter // shared by all goroutines; see ratelimit.go
	log     *slog.Logger
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time

	tokens  map[string]*tokenCache // by scope
	secrets []string               // values scrubbed from every error and log text

	notBefore atomic.Int64 // unix nanos: no API request before this (shared 429 hold-off)

	calls, retries, tokenRequests, rateLimited atomic.Int64
}

const (
	scopeDistributor     = "distributor"
	scopeServiceProvider = "service-provider"

	pathPayable     = "/distributor/v1/billing/payable-charges"
	pathCustomers   = "/service-provider/v1/customers"
	pathReceivables = "/service-provider/v1/billing/receivable-charges"
	pathSubs        = "/service-provider/v1/billing/subscriptions"
	pathToken       = "/auth/oidc/connect/token"
)

// New checks cfg and returns a client. ctx is the run's root context: token
// refreshes run under it (plus their own timeout), so it must live as long as
// the client is used; never pass a per-request context.
func New(ctx context.Context, cfg Config) (*Client, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"BaseURL", cfg.BaseURL}, {"ClientID", cfg.ClientID},
		{"ClientSecret", cfg.ClientSecret}, {"SubscriptionKey", cfg.SubscriptionKey},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("fetch config: missing %s", strings.Join(missing, ", "))
	}
	base, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.TokenTimeout <= 0 {
		cfg.TokenTimeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 60 * time.Second
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 256 << 20
	}
	if cfg.AcceptLanguage == "" {
		cfg.AcceptLanguage = "en"
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("fetch config: negative Rate %g", cfg.Rate)
	}
	c := &Client{
		cfg:     cfg,
		base:    base,
		log:     cfg.Logger,
		sleep:   cfg.Sleep,
		now:     time.Now,
		secrets: []string{cfg.ClientSecret, cfg.SubscriptionKey},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	c.limiter = newAdaptiveLimiter(cfg.Rate, time.Now)

	var transport http.RoundTripper
	var checkRedirect func(*http.Request, []*http.Request) error
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport
		checkRedirect = cfg.HTTPClient.CheckRedirect
	}
	if checkRedirect == nil {
		checkRedirect = sameOriginRedirects(base)
	}
	if transport == nil {
		transport = NewTransport(cfg.InFlight)
	}
	// Per-attempt deadlines come from contexts, not from Client.Timeout.
	c.hc = &http.Client{Transport: transport, CheckRedirect: checkRedirect}
	tokenHC := &http.Client{
		Transport:     &headerTransport{base: transport, c: c},
		CheckRedirect: checkRedirect,
		Timeout:       cfg.TokenTimeout,
	}
	c.tokens = map[string]*tokenCache{
		scopeDistributor:     newTokenCache(ctx, c, scopeDistributor, tokenHC),
		scopeServiceProvider: newTokenCache(ctx, c, scopeServiceProvider, tokenHC),
	}
	return c, nil
}

// NewTransport returns the HTTP transport of a client that makes up to
// inFlight API calls at once (8 when inFlight < 1): http.DefaultTransport's
// settings, keeping up to inFlight+1 idle connections to a host instead of
// its 2. With 2, each call that ended while two connections were already
// idle closed its own, and a later call dialled a new one (and, against the
// real API, made a new TLS handshake): two closes of 2,000 customers
// (≈ 4,000 calls, 8 in flight) opened 841 and 947 connections; 11 and 9 with
// this transport.
func NewTransport(inFlight int) *http.Transport {
	if inFlight < 1 {
		inFlight = 8
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = inFlight + 1 // + the token endpoint's
	if t.MaxIdleConns < t.MaxIdleConnsPerHost {
		t.MaxIdleConns = t.MaxIdleConnsPerHost
	}
	return t
}

func checkBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("fetch config: invalid BaseURL: %w", err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("fetch config: invalid BaseURL %q: no host", u.Redacted())
	}
	if u.User != nil {
		return "", errors.New("fetch config: BaseURL must not contain credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("fetch config: BaseURL %q must not have a query or fragment", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("fetch config: BaseURL %q uses plain http:// on a non-loopback host; use https:// (plain http is only allowed for 127.0.0.0/8, ::1 and localhost)", u.Redacted())
		}
	default:
		return "", fmt.Errorf("fetch config: BaseURL %q: scheme must be https", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// sameOriginRedirects refuses a redirect that leaves the gateway's scheme
// and host: Go would follow it and re-send the subscription key (a custom
// header, which it strips only for Authorization and cookies) and the token
// request's form to whatever host the redirect names.
func sameOriginRedirects(base string) func(*http.Request, []*http.Request) error {
	bu, err := url.Parse(base)
	return func(r *http.Request, via []*http.Request) error {
		if err != nil || !strings.EqualFold(r.URL.Scheme, bu.Scheme) || !strings.EqualFold(r.URL.Host, bu.Host) {
			return fmt.Errorf("refused a redirect to another host (%s://%s): the API is only called at its base URL", r.URL.Scheme, r.URL.Host)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{
		Calls:         c.calls.Load(),
		Retries:       c.retries.Load(),
		TokenRequests: c.tokenRequests.Load(),
		RateLimited:   c.rateLimited.Load(),
		Rate:          c.limiter.Rate(),
		RateCuts:      c.limiter.Cuts(),
	}
}

// PayableHandler receives the payable charges as they are decoded. The
// response is streamed: the charges are never all in memory.
type PayableHandler interface {
	// Reset is called at the start of every attempt, before any Charge:
	// discard whatever earlier attempts delivered.
	Reset() error
	// Charge is called for each charge as it is decoded, after it passed
	// Validate. An error aborts the fetch and is not retried.
	Charge(c *billing.PayableCharge) error
}

// PayableCharges streams the payable charges (Distributor API) of the billing
// period containing date ("" = today's period) into h and returns the period
// the server reported. A truncated or stalled response is retried; h.Reset is
// called before each attempt delivers charges. On error, what h received must
// be discarded.
func (c *Client) PayableCharges(ctx context.Context, date billing.Date, h PayableHandler) (billing.Period, error) {
	q := url.Values{}
	if date != "" {
		q.Set("date", string(date))
	}
	var period billing.Period
	err := c.do(ctx, request{scope: scopeDistributor, path: pathPayable, query: q}, func(body io.Reader) error {
		if err := h.Reset(); err != nil {
			return &handlerError{fmt.Errorf("reset payable handler: %w", err)}
		}
		p, err := decodePayable(body, h, !c.cfg.PlainDecoder)
		if err != nil {
			return err
		}
		period = p
		return nil
	})
	if err != nil {
		return billing.Period{}, err
	}
	return period, nil
}

// Customers returns every customer (Service Provider API).
func (c *Client) Customers(ctx context.Context) ([]billing.Customer, error) {
	var out []billing.Customer
	err := c.do(ctx, request{scope: scopeServiceProvider, path: pathCustomers}, func(body io.Reader) error {
		b, err := c.readAll(body, pathCustomers)
		if err != nil {
			return err
		}
		out, err = decodeCustomers(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReceivableCharges returns one customer's receivable charges for the billing
// period containing date ("" = today's), and the period the server reported,
// which may differ from the one asked for.
func (c *Client) ReceivableCharges(ctx context.Context, customerID string, date billing.Date) (billing.Period, []billing.ReceivableCharge, error) {
	if strings.TrimSpace(customerID) == "" {
		return billing.Period{}, nil, errors.New("receivable charges: empty customer id")
	}
	q := url.Values{}
	q.Set("customerId", customerID)
	if date != "" {
		q.Set("date", string(date))
	}
	var period billing.Period
	var out []billing.ReceivableCharge
	err := c.do(ctx, request{scope: scopeServiceProvider, path: pathReceivables, query: q}, func(body io.Reader) error {
		return c.readPooled(body, pathReceivables, func(b []byte) (err error) {
			period, out, err = decodeReceivables(b, customerID, !c.cfg.PlainDecoder)
			return err
		})
	})
	if err != nil {
		return billing.Period{}, nil, err
	}
	return period, out, nil
}

// Subscriptions returns one customer's subscriptions (Service Provider API).
func (c *Client) Subscriptions(ctx context.Context, customerID string) ([]billing.Subscription, error) {
	if strings.TrimSpace(customerID) == "" {
		return nil, errors.New("subscriptions: empty customer id")
	}
	q := url.Values{}
	q.Set("customerId", customerID)
	var out []billing.Subscription
	err := c.do(ctx, request{scope: scopeServiceProvider, path: pathSubs, query: q}, func(body io.Reader) error {
		return c.readPooled(body, pathSubs, func(b []byte) (err error) {
			out, err = decodeSubscriptions(b, customerID, !c.cfg.PlainDecoder)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readAll reads a whole body, refusing more than MaxBodyBytes.
func (c *Client) readAll(r io.Reader, path string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.cfg.MaxBodyBytes {
		return nil, &DecodeError{Endpoint: path, Err: fmt.Errorf("response body larger than %d bytes (MaxBodyBytes)", c.cfg.MaxBodyBytes)}
	}
	return b, nil
}

// bodyBufs recycles the buffers readPooled reads bodies into.
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody is the largest buffer readPooled keeps for reuse.
const maxPooledBody = 4 << 20

// readPooled reads a whole body, as readAll does, into a recycled buffer
// and hands it to use, which must not keep it (nor anything pointing into
// it) after it returns: the decoders copy what they keep.
func (c *Client) readPooled(r io.Reader, path string, use func([]byte) error) error {
	bp := bodyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	lr := io.LimitReader(r, c.cfg.MaxBodyBytes+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if int64(len(b)) > c.cfg.MaxBodyBytes {
		return &DecodeError{Endpoint: path, Err: fmt.Errorf("response body larger than %d bytes (MaxBodyBytes)", c.cfg.MaxBodyBytes)}
	}
	if err := use(b); err != nil {
		// Not recycled after an error: an error is read after we return,
		// so one that quoted the body without copying it (the decoders'
		// errors copy what they quote today) still reads what was sent.
		return err
	}
	if cap(b) <= maxPooledBody {
		*bp = b[:0]
		bodyBufs.Put(bp)
	}
	return nil
}

// setHeaders puts the headers every request carries, token request included.
func (c *Client) setHeaders(h http.Header) {
	h.Set("Ocp-Apim-Subscription-Key", c.cfg.SubscriptionKey)
	h.Set("Accept-Language", c.cfg.AcceptLanguage)
	h.Set("Accept", "application/json")
}

// redact removes every known secret (and the extra values, e.g. the access
// token used) from s.
func (c *Client) redact(s string, extra ...string) string {
	for _, v := range append(extra, c.secrets...) {
		if len(v) >= 4 && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}

// headerTransport adds the common headers (subscription key included) to the
// token endpoint requests made by golang.org/x/oauth2.
type headerTransport struct {
	base http.RoundTripper
	c    *Client
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.c.setHeaders(r.Header)
	return t.base.RoundTrip(r)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Scopes are the token scopes the client asks for, one per API.
func Scopes() []string { return []string{scopeDistributor, scopeServiceProvider} }

// Token gets an access token of one scope (reusing a cached one), without
// calling an API: `reconcile doctor` checks that each scope is issued.
func (c *Client) Token(ctx context.Context, scope string) error {
	t, ok := c.tokens[scope]
	if !ok {
		return fmt.Errorf("unknown scope %q", scope)
	}
	_, err := t.get(ctx)
	return err
}

// CheckBaseURL reports whether a base URL is acceptable: https, or plain
// http to a loopback host only.
func CheckBaseURL(raw string) error {
	_, err := checkBaseURL(raw)
	return err
}
