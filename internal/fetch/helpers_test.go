package fetch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// Recognisable secrets: tests assert they never show up in errors or logs.
const (
	testClientID  = "client-id-123"
	testSecret    = "SECRET-client-9f8e7d"
	testSubKey    = "SUBKEY-4a5b6c7d"
	testTokenMark = "TOKEN-"
)

// fakeSherweb is a small stand-in for the Sherweb gateway: a token endpoint
// and the APIs under /api, with checks on every header.
type fakeSherweb struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	tokenTTL    int                         // expires_in; 0 = omit
	tokenFail   func(n int) (int, string)   // optional: status and body for token request n (1-based); 0 = succeed
	issued      map[string]string           // token -> scope
	revoked     map[string]bool             // tokens the API rejects with 401
	tokenCalls  map[string]int              // by scope
	apiCalls    map[string]int              // by path
	api         map[string]http.HandlerFunc // by path (without /api)
	badHeaders  []string                    // header problems seen
	lastTokenRq map[string]string           // form of the last token request
	conns       atomic.Int64                // connections the server accepted
}

func newFake(t *testing.T) *fakeSherweb {
	t.Helper()
	f := &fakeSherweb{
		t:          t,
		tokenTTL:   3600,
		issued:     map[string]string{},
		revoked:    map[string]bool{},
		tokenCalls: map[string]int{},
		apiCalls:   map[string]int{},
		api:        map[string]http.HandlerFunc{},
	}
	root := http.NewServeMux()
	root.HandleFunc("POST /api/auth/oidc/connect/token", f.token)
	root.HandleFunc("/api/", f.serveAPI)
	f.srv = httptest.NewUnstartedServer(root)
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSherweb) checkHeaders(r *http.Request, what string) {
	want := map[string]string{
		"Ocp-Apim-Subscription-Key": testSubKey,
		"Accept-Language":           "en",
		"Accept":                    "application/json",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			f.mu.Lock()
			f.badHeaders = append(f.badHeaders, fmt.Sprintf("%s: header %s = %q", what, k, got))
			f.mu.Unlock()
		}
	}
}

func (f *fakeSherweb) token(w http.ResponseWriter, r *http.Request) {
	f.checkHeaders(r, "token")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	scope := r.PostForm.Get("scope")
	f.mu.Lock()
	f.tokenCalls[scope]++
	n := 0
	for _, v := range f.tokenCalls {
		n += v
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	f.lastTokenRq = form
	fail := f.tokenFail
	ttl := f.tokenTTL
	f.mu.Unlock()
	if fail != nil {
		if status, body := fail(n); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret ||
		r.PostForm.Get("grant_type") != "client_credentials" || (scope != "distributor" && scope != "service-provider") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	tok := fmt.Sprintf("%s%s-%d", testTokenMark, scope, n)
	f.mu.Lock()
	f.issued[tok] = scope
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if ttl > 0 {
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, ttl)
	} else {
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer"}`, tok)
	}
}

func (f *fakeSherweb) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api")
	f.checkHeaders(r, path)
	f.mu.Lock()
	f.apiCalls[path]++
	h := f.api[path]
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	scope, ok := f.issued[tok]
	revoked := f.revoked[tok]
	f.mu.Unlock()
	wantScope := "distributor"
	if strings.HasPrefix(path, "/service-provider/") {
		wantScope = "service-provider"
	}
	if !ok || revoked {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"statusCode":401,"message":"Access denied due to invalid token."}`)
		return
	}
	if scope != wantScope {
		w.WriteHeader(403)
		fmt.Fprintf(w, `{"title":"Forbidden","status":403,"detail":"token scope %s cannot call %s"}`, scope, path)
		return
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *fakeSherweb) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	f.api[path] = h
	f.mu.Unlock()
}

func (f *fakeSherweb) calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apiCalls[path]
}

func (f *fakeSherweb) tokens(scope string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls[scope]
}

func (f *fakeSherweb) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok := range f.issued {
		f.revoked[tok] = true
	}
}

func (f *fakeSherweb) assertHeaders(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.badHeaders {
		t.Error(p)
	}
}

// sleeps records the waits the client asked for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) list() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func testConfig(f *fakeSherweb, s *sleeps) Config {
	return Config{
		BaseURL:         f.srv.URL + "/api/",
		ClientID:        testClientID,
		ClientSecret:    testSecret,
		SubscriptionKey: testSubKey,
		HTTPClient:      f.srv.Client(),
		RequestTimeout:  5 * time.Second,
		MaxAttempts:     4,
		BaseBackoff:     100 * time.Millisecond,
		MaxWait:         60 * time.Second,
		Sleep:           s.sleep,
	}
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collector is a PayableHandler keeping what it receives.
type collector struct {
	mu      sync.Mutex
	resets  int
	charges []*billing.PayableCharge
	failOn  int // Charge returns an error on this 1-based charge; 0 = never
}

func (h *collector) Reset() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resets++
	h.charges = nil
	return nil
}

func (h *collector) Charge(c *billing.PayableCharge) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.charges = append(h.charges, c)
	if h.failOn > 0 && len(h.charges) == h.failOn {
		return fmt.Errorf("disk full")
	}
	return nil
}

// chargeJSON renders one valid payable charge.
func chargeJSON(i int) string {
	return fmt.Sprintf(`{"productId":"6f1c2a4e-8b1d-4c55-9a0e-%012d","productName":"Microsoft 365 Business Standard","sku":"SKU-%d",`+
		`"chargeId":"0b7d3e52-51f4-4d2b-8c9e-%012d","chargeName":"Monthly subscription","chargeType":"Recurring",`+
		`"billingCycleType":"Monthly","periodFrom":"2024-03-01","periodTo":"2024-03-31","quantity":10,"listPrice":16.90,`+
		`"netPrice":15.21,"netPriceProrated":15.21,"subTotal":152.10,"currency":"CAD","isBilled":true,"isProratable":true,`+
		`"deductions":[{"code":"PROMO","name":"Promo","deductionType":"PromotionalPercentage","value":10,"unitValue":1.69,"totalValue":16.90}],`+
		`"fees":[],"invoice":{"number":"INV-1","date":"2024-04-01","periodFrom":"2024-03-01","periodTo":"2024-03-31"},`+
		`"taxes":[{"name":"GST","appliedRate":0.05}],"tags":[{"name":"CustomerDisplayName","value":"Contoso %d"}]}`, i, i%97, i, i%1000)
}

func payableJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(chargeJSON(i))
	}
	b.WriteString("]}")
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}
