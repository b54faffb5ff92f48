package sherwebsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Config configures a simulator. Zero values take the documented defaults.
type Config struct {
	Seed      int64
	Customers int // number of customers (default 20)
	// Charges is the approximate number of payable lines per period in total
	// (default Customers*8); receivable lines are about the same.
	Charges int
	// Credentials the simulator accepts (defaults "sim-client", "sim-secret", "sim-key").
	ClientID, ClientSecret, SubscriptionKey string
	// TokenTTL is the expires_in of issued tokens (default 1h); expired tokens get 401.
	TokenTTL time.Duration
	Faults   Faults
	// History serves a history of months around DefaultPeriod with planted
	// month-over-month changes (see history.go); DefaultPeriod itself is
	// served exactly as without it.
	History bool
	// Amend configures the amendment endpoints (outcomes, delays, faults;
	// see amend.go). The zero value: every amendment succeeds after two polls.
	Amend AmendConfig
	// LicenceScenarios plants, in the default period's subscriptions, the
	// cases the licence check and the commitments must show (licence.go):
	// a committed minimum that blocks a full reduction, a seat
	// subscription without commitment, and an annual commitment renewing
	// within 30 days. Off by default: the default data does not change.
	LicenceScenarios bool
	// Now is the clock for token expiry, the default date of the charge
	// endpoints and HTTP-date Retry-After values (default time.Now).
	Now func() time.Time
}

// Server is the simulator; it implements http.Handler.
type Server struct {
	cfg Config
	gen *generator
	now func() time.Time

	mu        sync.Mutex
	faults    Faults
	fst       faultState
	stats     Stats
	tokens    map[string]token
	tokenSeq  int64
	revokedTo int64         // tokens with seq ≤ revokedTo are revoked
	requests  uint64        // error bodies written (trace ids)
	shuffles  uint64        // per-request shuffle seeds drawn
	amend     amendBook     // amendments: see amend.go
	licence   *LicencePlant // planted licence scenarios (Config.LicenceScenarios); nil when off
}

type token struct {
	seq     int64
	scopes  uint8
	expires time.Time
}

const (
	scopeDistributor uint8 = 1 << iota
	scopeServiceProvider
)

// Stats counts what the simulator answered.
type Stats struct {
	Calls         int            // API calls (token requests excluded)
	TokenRequests int            // requests to the token endpoint
	RateLimited   int            // 429s sent
	Errors5xx     int            // 5xx sent (API and token endpoint)
	Unauthorized  int            // 401s sent (API and token endpoint)
	Forbidden     int            // 403s sent
	NotFound      int            // 404s sent
	Truncated     int            // bodies cut mid-way
	Paths         map[string]int // API calls per URL path
}

// Endpoint paths, relative to the server root.
const (
	PathToken       = "/auth/oidc/connect/token"
	PathPayable     = "/distributor/v1/billing/payable-charges"
	PathCustomers   = "/service-provider/v1/customers"
	PathReceivable  = "/service-provider/v1/billing/receivable-charges"
	PathSubs        = "/service-provider/v1/billing/subscriptions"
	PathAmendments  = "/service-provider/v1/billing/subscriptions/amendments"
	amendmentsSlash = PathAmendments + "/"
)

// New returns a simulator for cfg.
func New(cfg Config) *Server {
	if cfg.Customers <= 0 {
		cfg.Customers = 20
	}
	if cfg.Charges <= 0 {
		cfg.Charges = cfg.Customers * 8
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "sim-client"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "sim-secret"
	}
	if cfg.SubscriptionKey == "" {
		cfg.SubscriptionKey = "sim-key"
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	s := &Server{
		cfg:    cfg,
		gen:    newGenerator(cfg.Seed, cfg.Customers, cfg.Charges),
		now:    cfg.Now,
		tokens: map[string]token{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.gen.history = cfg.History
	s.stats.Paths = map[string]int{}
	s.amend = newAmendBook(cfg.Amend)
	if cfg.LicenceScenarios {
		s.licence = s.plantLicence()
	}
	s.SetFaults(cfg.Faults)
	return s
}

// SetFaults replaces the faults for later requests and resets their
// bookkeeping (the "once" faults fire again, the storm window restarts).
// It is safe for concurrent use.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.fst = newFaultState(s.cfg.Seed, &f, s.stats.Calls)
}

// SetRestated turns the restatement knob: when on, every month is served
// restated (some keys changed, added or removed; Truth.Changes lists them),
// as a re-fetch of a period Sherweb corrected. Safe for concurrent use.
func (s *Server) SetRestated(on bool) { s.gen.restated.Store(on) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Paths = make(map[string]int, len(s.stats.Paths))
	for k, v := range s.stats.Paths {
		st.Paths[k] = v
	}
	return st
}

// DefaultPeriod is the demo period: October 2026.
func (s *Server) DefaultPeriod() billing.Period {
	return billing.Period{From: "2026-10-01", To: "2026-10-31"}
}

func (s *Server) defaultPeriod() *periodInfo { return periodOf(s.DefaultPeriod()) }

// Customers returns the customers as a client decodes them, in served
// (unshuffled) order.
func (s *Server) Customers() []billing.Customer {
	out := make([]billing.Customer, len(s.gen.customers))
	for i := range s.gen.customers {
		out[i] = s.gen.customers[i].Customer
		out[i].Path = append([]string(nil), out[i].Path...)
	}
	return out
}

// EachPayable calls fn with every payable line of the calendar month that
// contains p.From, in served (unshuffled) order, as a client decodes it
// (faults not applied). It stops at the first error fn returns.
func (s *Server) EachPayable(p billing.Period, fn func(*billing.PayableCharge) error) error {
	pi := periodOf(p)
	return s.gen.eachPayableGroup(pi, s.gen.naturalOrder(), false, nil, func(gr *group) error {
		for i := 0; i < gr.npay; i++ {
			if err := fn(s.gen.payable(pi, gr, &gr.pay[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// Receivables returns the receivable lines of a customer for the calendar
// month that contains p.From, in served order (faults not applied); nil for
// an unknown customer.
func (s *Server) Receivables(customerID string, p billing.Period) []billing.ReceivableCharge {
	ci, ok := s.gen.customerIndex(customerID)
	if !ok {
		return nil
	}
	out := []billing.ReceivableCharge{}
	_ = s.gen.eachGroup(periodOf(p), ci, func(gr *group) error {
		for i := 0; i < gr.nrec; i++ {
			out = append(out, receivable(gr, &gr.rec[i]))
		}
		return nil
	})
	return out
}

// Truth returns what the simulator serves for the calendar month that
// contains p.From, with the current Faults applied.
func (s *Server) Truth(p billing.Period) *Truth {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	return s.gen.truth(periodOf(p), &f)
}

// ---------------------------------------------------------------------------
// HTTP

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathToken {
		s.serveToken(w, r)
		return
	}
	s.serveAPI(w, r)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) count(status int) {
	s.mu.Lock()
	s.countLocked(status)
	s.mu.Unlock()
}

func (s *Server) countLocked(status int) {
	switch {
	case status == http.StatusTooManyRequests:
		s.stats.RateLimited++
	case status == http.StatusUnauthorized:
		s.stats.Unauthorized++
	case status == http.StatusForbidden:
		s.stats.Forbidden++
	case status == http.StatusNotFound:
		s.stats.NotFound++
	case status >= 500:
		s.stats.Errors5xx++
	}
}

var problemTypes = map[int]string{
	400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
	401: "https://tools.ietf.org/html/rfc7235#section-3.1",
	403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
	404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
	405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
	429: "https://tools.ietf.org/html/rfc6585#section-4",
	500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
	502: "https://tools.ietf.org/html/rfc7231#section-6.6.3",
	503: "https://tools.ietf.org/html/rfc7231#section-6.6.4",
}

// problem writes an RFC 7807 ProblemDetails error.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.countLocked(status)
	s.mu.Unlock()
	trace := fmt.Sprintf("00-%016x%016x-%016x-00", splitmix64(n), splitmix64(n+1), splitmix64(n+2))
	b := []byte(`{"type":`)
	b = billing.AppendJSONString(b, problemTypes[status])
	b = append(b, `,"title":`...)
	b = billing.AppendJSONString(b, http.StatusText(status))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"detail":`...)
	b = billing.AppendJSONString(b, detail)
	b = append(b, `,"instance":`...)
	b = billing.AppendJSONString(b, r.URL.Path)
	b = append(b, `,"traceId":`...)
	b = billing.AppendJSONString(b, trace)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// apim writes an Azure API Management gateway error.
func (s *Server) apim(w http.ResponseWriter, status int, message string) {
	s.count(status)
	b := []byte(`{"statusCode":`)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"message":`...)
	b = billing.AppendJSONString(b, message)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

const (
	msgMissingKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	msgInvalidKey = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)

// checkKey enforces the APIM subscription key (header or query).
func (s *Server) checkKey(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("Ocp-Apim-Subscription-Key")
	if key == "" {
		key = r.URL.Query().Get("subscription-key")
	}
	switch {
	case key == "":
		s.apim(w, http.StatusUnauthorized, msgMissingKey)
		return false
	case key != s.cfg.SubscriptionKey:
		s.apim(w, http.StatusUnauthorized, msgInvalidKey)
		return false
	}
	return true
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b := []byte(`{"error":`)
	b = billing.AppendJSONString(b, code)
	b = append(b, `,"error_description":`...)
	b = billing.AppendJSONString(b, desc)
	w.Write(append(b, '}'))
}

// serveToken is POST /auth/oidc/connect/token (client credentials).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	n := s.stats.TokenRequests
	f := s.faults
	s.mu.Unlock()
	if !sleep(r.Context(), f.TokenLatency) {
		return
	}
	if n <= f.TokenFailures {
		s.problem(w, r, http.StatusServiceUnavailable, "The authorization service is temporarily unavailable.")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.problem(w, r, http.StatusMethodNotAllowed, "Use POST.")
		return
	}
	if !s.checkKey(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" && secret == "" {
		id, secret = u, p
	}
	grant, scope := r.PostForm.Get("grant_type"), r.PostForm.Get("scope")
	switch {
	case grant == "" || id == "" || secret == "" || scope == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id, client_secret, scope and grant_type are required.")
		return
	case grant != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Only client_credentials is supported.")
		return
	case id != s.cfg.ClientID || secret != s.cfg.ClientSecret:
		s.count(http.StatusUnauthorized)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	var scopes uint8
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "distributor":
			scopes |= scopeDistributor
		case "service-provider":
			scopes |= scopeServiceProvider
		default:
			oauthError(w, http.StatusBadRequest, "invalid_scope", "Unknown scope.")
			return
		}
	}
	var raw [24]byte
	rand.Read(raw[:])
	tok := "sim_" + hex.EncodeToString(raw[:])
	now := s.now()
	s.mu.Lock()
	s.tokenSeq++
	s.tokens[tok] = token{seq: s.tokenSeq, scopes: scopes, expires: now.Add(s.cfg.TokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	b := []byte(`{"access_token":`)
	b = billing.AppendJSONString(b, tok)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(s.cfg.TokenTTL/time.Second), 10)
	b = append(b, `,"token_type":"Bearer","scope":`...)
	b = billing.AppendJSONString(b, scope)
	w.Write(append(b, '}'))
}

// endpoint is one API operation.
type endpoint struct {
	method string
	scope  uint8
	serve  func(s *Server, w http.ResponseWriter, r *http.Request, f *Faults)
}

func route(path string) (endpoint, bool) {
	switch path {
	case PathPayable:
		return endpoint{http.MethodGet, scopeDistributor, (*Server).servePayable}, true
	case PathCustomers:
		return endpoint{http.MethodGet, scopeServiceProvider, (*Server).serveCustomers}, true
	case PathReceivable:
		return endpoint{http.MethodGet, scopeServiceProvider, (*Server).serveReceivables}, true
	case PathSubs:
		return endpoint{http.MethodGet, scopeServiceProvider, (*Server).serveSubscriptions}, true
	case PathAmendments:
		return endpoint{http.MethodPost, scopeServiceProvider, (*Server).serveAmend}, true
	}
	if rest, ok := strings.CutPrefix(path, amendmentsSlash); ok {
		if id, ok := strings.CutSuffix(rest, "/status"); ok && id != "" && !strings.Contains(id, "/") {
			return endpoint{http.MethodGet, scopeServiceProvider, (*Server).serveAmendStatus}, true
		}
	}
	return endpoint{}, false
}

// serveAPI is every API call: gateway checks, faults, auth, then the operation.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	s.stats.Calls++
	s.stats.Paths[r.URL.Path]++
	n := s.stats.Calls
	f := s.faults
	if s.fst.firstCall.IsZero() {
		s.fst.firstCall = now
	}
	if f.RevokeTokensAfter > 0 && !s.fst.revoked && n-s.fst.callsAtSet > f.RevokeTokensAfter {
		s.fst.revoked = true
		s.revokedTo = s.tokenSeq
	}
	stall := time.Duration(0)
	if f.StallBeforeHeaders > 0 && !s.fst.stalledPaths[r.URL.Path] {
		s.fst.stalledPaths[r.URL.Path] = true
		stall = f.StallBeforeHeaders
	}
	s.mu.Unlock()

	if !sleep(r.Context(), f.Latency+stall) {
		return
	}
	if !s.checkKey(w, r) {
		return
	}
	ep, ok := route(r.URL.Path)
	if !ok {
		s.apim(w, http.StatusNotFound, "Resource not found")
		return
	}

	s.mu.Lock()
	lim := s.rateLimitLocked(&f, n, now)
	s.mu.Unlock()
	if lim.limited {
		s.tooMany(w, r, lim)
		return
	}
	if !s.authorize(w, r, ep.scope, now) {
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		s.problem(w, r, http.StatusMethodNotAllowed, "The method "+r.Method+" is not allowed on this resource.")
		return
	}
	s.mu.Lock()
	code := s.random5xxLocked(&f)
	s.mu.Unlock()
	if code != 0 {
		s.problem(w, r, code, "An unexpected error occurred. Please retry later.")
		return
	}
	ep.serve(s, w, r, &f)
}

// tooMany writes a 429, alternating the ProblemDetails and APIM body shapes.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, lim limitDecision) {
	if lim.header != "" {
		w.Header().Set("Retry-After", lim.header)
	}
	msg := "Rate limit is exceeded. Try again in " + strconv.Itoa(lim.seconds) + " seconds."
	s.mu.Lock()
	odd := s.stats.RateLimited%2 == 1
	s.mu.Unlock()
	if odd {
		s.apim(w, http.StatusTooManyRequests, msg)
		return
	}
	s.problem(w, r, http.StatusTooManyRequests, msg)
}

// authorize checks the bearer token and its scope.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scope uint8, now time.Time) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	deny := func(detail string) bool {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		s.problem(w, r, http.StatusUnauthorized, detail)
		return false
	}
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.problem(w, r, http.StatusUnauthorized, "A bearer access token is required.")
		return false
	}
	s.mu.Lock()
	t, ok := s.tokens[tok]
	revoked := ok && t.seq <= s.revokedTo
	s.mu.Unlock()
	switch {
	case !ok:
		return deny("The access token is invalid.")
	case revoked:
		return deny("The access token has been revoked.")
	case !now.Before(t.expires):
		return deny("The access token expired.")
	case t.scopes&scope == 0:
		s.problem(w, r, http.StatusForbidden, "The access token does not grant the scope this API requires.")
		return false
	}
	return true
}

// month returns the calendar month containing the date query parameter
// (today, UTC, when absent), or writes a 400.
func (s *Server) month(w http.ResponseWriter, r *http.Request) (*periodInfo, bool) {
	v := r.URL.Query().Get("date")
	if v == "" {
		return monthOf(s.now()), true
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "The value '"+v+"' is not valid for date (format yyyy-MM-dd).")
		return nil, false
	}
	return monthOf(t), true
}

// customerParam returns the index of the customerId query parameter, or
// writes a 400 or 404.
func (s *Server) customerParam(w http.ResponseWriter, r *http.Request) (int, string, bool) {
	id := r.URL.Query().Get("customerId")
	if id == "" {
		s.problem(w, r, http.StatusBadRequest, "The customerId field is required.")
		return 0, "", false
	}
	ci, ok := s.gen.customerIndex(id)
	if !ok {
		s.problem(w, r, http.StatusNotFound, "Customer "+id+" was not found.")
		return 0, "", false
	}
	return ci, s.gen.customers[ci].ID, true
}

func setJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
}

// serveCustomers is GET /service-provider/v1/customers.
func (s *Server) serveCustomers(w http.ResponseWriter, r *http.Request, f *Faults) {
	order := s.order(f)
	bw := newBodyWriter(w)
	defer bw.release()
	setJSON(w)
	bw.b = append(bw.b, `{"items":[`...)
	for i, ci := range order {
		if i > 0 {
			bw.b = append(bw.b, ',')
		}
		bw.b = appendCustomer(bw.b, &s.gen.customers[ci])
		if bw.maybeFlush() != nil {
			return
		}
	}
	bw.b = append(bw.b, "]}"...)
	_ = bw.flush() // a failed write means the client went away
}

// serveSubscriptions is GET /service-provider/v1/billing/subscriptions
// (derived from the customer's charges of the default period).
func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request, f *Faults) {
	ci, _, ok := s.customerParam(w, r)
	if !ok {
		return
	}
	subs := s.currentSubscriptions(ci)
	bw := newBodyWriter(w)
	defer bw.release()
	setJSON(w)
	bw.b = append(bw.b, `{"items":[`...)
	for i := range subs {
		if i > 0 {
			bw.b = append(bw.b, ',')
		}
		bw.b = appendSubscription(bw.b, &subs[i])
		if bw.maybeFlush() != nil {
			return
		}
	}
	bw.b = append(bw.b, "]}"...)
	_ = bw.flush() // a failed write means the client went away
}
