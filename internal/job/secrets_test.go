package job_test

// Secrets (client secret, subscription key, access tokens) never appear in
// anything the tool writes: logs at debug level, error texts, the ledger file
// (and its WAL), the workbook (every part, uncompressed), the JSON summary
// (file and stdout) and the fetch summary. Every row of the fault matrix is
// scanned (TestFaultMatrix calls assertNoSecrets); TestSecretsNeverLeak adds
// a server that echoes the secrets back in error bodies and data, the cases
// most likely to leak.

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

// secretHit is one secret found in one artefact.
type secretHit struct {
	artefact, secret, context string
}

// scanSecrets searches every artefact (and every part of a zip artefact,
// such as the workbook) for every secret.
func scanSecrets(artefacts map[string][]byte, secrets []string) []secretHit {
	var hits []secretHit
	scan := func(name string, b []byte) {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if i := bytes.Index(b, []byte(s)); i >= 0 {
				lo, hi := max(0, i-60), min(len(b), i+len(s)+60)
				hits = append(hits, secretHit{name, s, string(b[lo:hi])})
			}
		}
	}
	for name, b := range artefacts {
		scan(name, b)
		if !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
			continue
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			hits = append(hits, secretHit{name, "", "unreadable zip: " + err.Error()})
			continue
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				hits = append(hits, secretHit{name + "/" + f.Name, "", "unreadable part: " + err.Error()})
				continue
			}
			part, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				hits = append(hits, secretHit{name + "/" + f.Name, "", "unreadable part: " + err.Error()})
				continue
			}
			scan(name+"/"+f.Name, part)
		}
	}
	return hits
}

func assertNoSecrets(t *testing.T, row string, r *faultResult) {
	t.Helper()
	secrets := append([]string{secretClient, secretKey}, r.tokens...)
	for _, h := range scanSecrets(r.artefacts, secrets) {
		if h.secret == "" {
			t.Errorf("%s: %s: %s", row, h.artefact, h.context)
			continue
		}
		t.Errorf("%s: secret %q leaked into %s: …%q…", row, redactForLog(h.secret), h.artefact, h.context)
	}
	if strings.Contains(r.run.BaseURL, secretKey) || strings.Contains(r.run.Settings, secretKey) {
		t.Errorf("%s: the subscription key is in the stored run's base URL or settings", row)
	}
	// The scan must have had something to scan.
	if len(r.artefacts["logs"]) == 0 {
		t.Errorf("%s: no debug log was written: the log scan proves nothing", row)
	}
	if r.json != nil && r.book == nil {
		t.Errorf("%s: JSON written but no workbook", row)
	}
}

// redactForLog shortens a secret in the test's own failure message (the
// values are test constants, but an issued token is still a token).
func redactForLog(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// The scanner finds a secret in plain bytes and inside a compressed zip
// part, so a clean scan means something.
func TestScanSecretsFindsPlantedSecrets(t *testing.T) {
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "<c><v>%s</v></c>%s", secretKey, strings.Repeat("padding ", 200))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(zb.Bytes(), []byte(secretKey)) {
		t.Fatal("the zip part is stored uncompressed: the test proves nothing")
	}
	hits := scanSecrets(map[string][]byte{
		"book": zb.Bytes(),
		"log":  []byte("level=INFO msg=x key=" + secretClient),
		"ok":   []byte("nothing here"),
	}, []string{secretClient, secretKey})
	var got []string
	for _, h := range hits {
		got = append(got, h.artefact+" "+h.secret)
	}
	testkit.ErrorMultisetDiff(t, "hits", got, []string{"book/xl/worksheets/sheet1.xml " + secretKey, "log " + secretClient})
}

// echoAPIError answers the API calls to path (for one customer when
// customerID is set) with an error body built from the request, so the body
// can echo the request's subscription key and bearer token.
func echoAPIError(echoed *atomic.Int64, path, customerID string, status int, body func(key, token string) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path || (customerID != "" && !strings.EqualFold(r.URL.Query().Get("customerId"), customerID)) {
				next.ServeHTTP(w, r)
				return
			}
			key := r.Header.Get("Ocp-Apim-Subscription-Key")
			tok := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer"))
			if key != "" && tok != "" {
				echoed.Add(1)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			io.WriteString(w, body(key, tok))
		})
	}
}

// echoTokenError answers every token request with an error echoing the
// client secret and the subscription key it was sent.
func echoTokenError(echoed *atomic.Int64, status int, body func(secret, key string) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != sherwebsim.PathToken {
				next.ServeHTTP(w, r)
				return
			}
			_ = r.ParseForm() // a bad form has no client_secret: counted as not echoed
			if r.PostForm.Get("client_secret") != "" && r.Header.Get("Ocp-Apim-Subscription-Key") != "" {
				echoed.Add(1)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			io.WriteString(w, body(r.PostForm.Get("client_secret"), r.Header.Get("Ocp-Apim-Subscription-Key")))
		})
	}
}

// echoRows are servers that send the secrets back; each must still end in
// its documented outcome, and nothing written may contain them.
func echoRows() []faultRow {
	var n [5]atomic.Int64 // per row: responses that echoed the secrets
	fired := func(i int) func(*faultResult) string {
		return func(*faultResult) string {
			if n[i].Load() == 0 {
				return "the server never echoed the secrets back"
			}
			return ""
		}
	}
	rows := []faultRow{
		{
			name: "503 ProblemDetails echoing key and token for one customer", want: incomplete, missing: customerN(2),
			fired:  fired(0),
			errHas: []string{"503"},
			wrap: func(cs []billing.Customer) func(http.Handler) http.Handler {
				return echoAPIError(&n[0], sherwebsim.PathReceivable, cs[2].ID, http.StatusServiceUnavailable, func(key, tok string) string {
					return fmt.Sprintf(`{"type":"about:blank","title":"Unavailable for key %s","status":503,"detail":"backend refused token %s (key %s)","traceId":"00-%s-01-00"}`, key, tok, key, tok)
				})
			},
		},
		{
			name: "gateway 401 echoing the key on the payable call", want: failed, errHas: []string{"payable-charges", "401"},
			fired: fired(1),
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return echoAPIError(&n[1], sherwebsim.PathPayable, "", http.StatusUnauthorized, func(key, tok string) string {
					return fmt.Sprintf(`{"statusCode":401,"message":"Access denied: subscription key %s, token %s"}`, key, tok)
				})
			},
		},
		{
			name: "non-JSON 500 echoing the key on the customers call", want: failed, errHas: []string{"customers", "500"},
			fired: fired(2),
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return echoAPIError(&n[2], sherwebsim.PathCustomers, "", http.StatusInternalServerError, func(key, tok string) string {
					return fmt.Sprintf("<html>Internal error. Headers: Ocp-Apim-Subscription-Key=%s Authorization=Bearer %s</html>", key, tok)
				})
			},
		},
		{
			name: "payable subTotal holding the client secret", want: failed, errHas: []string{"payable-charges", "subTotal"},
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return rewriteBody(sherwebsim.PathPayable, "", replaceFirstValue("subTotal", `"`+secretClient+`"`))
			},
		},
		{
			name: "receivable quantity holding the subscription key", want: incomplete, missing: customerN(3),
			errHas: []string{"quantity"},
			wrap: func(cs []billing.Customer) func(http.Handler) http.Handler {
				return rewriteBody(sherwebsim.PathReceivable, cs[3].ID, replaceFirstValue("quantity", `"`+secretKey+`"`))
			},
		},
		{
			name: "token endpoint 400 echoing the client secret", want: failed, errHas: []string{"get access token", "invalid_client"},
			fired: fired(3),
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return echoTokenError(&n[3], http.StatusBadRequest, func(secret, key string) string {
					return fmt.Sprintf(`{"error":"invalid_client","error_description":"client_secret %s with key %s is not valid"}`, secret, key)
				})
			},
		},
		{
			name: "token endpoint 503 echoing the client secret", want: failed, errHas: []string{"get access token", "503"},
			fired: fired(4),
			wrap: func([]billing.Customer) func(http.Handler) http.Handler {
				return echoTokenError(&n[4], http.StatusServiceUnavailable, func(secret, key string) string {
					return fmt.Sprintf(`{"title":"Service Unavailable","status":503,"detail":"secret %s key %s"}`, secret, key)
				})
			},
		},
	}
	return rows
}

// The whole pipeline, driven through the fault rows most likely to put a
// secret into an error text and through servers echoing the secrets back,
// writes them nowhere.
func TestSecretsNeverLeak(t *testing.T) {
	clean := runFault(t, faultRow{name: "clean", faults: noFault})
	if clean.err != nil || clean.json == nil {
		t.Fatalf("clean run: %v", clean.err)
	}
	if len(clean.tokens) == 0 {
		t.Fatal("the token spy saw no token: the token scan proves nothing")
	}
	assertNoSecrets(t, "clean", clean)

	pick := map[string]bool{
		"Retry-After 3600 on the first call":     true,
		"customer failing persistently":          true,
		"tokens revoked early":                   true,
		"token endpoint 503 twice":               true,
		"token endpoint slower than its timeout": true,
		"malformed payable bad_money":            true,
		"truncated payable always":               true,
		"receivable quantity NaN":                true,
	}
	rows := echoRows()
	for _, row := range faultRows() {
		if pick[row.name] {
			rows = append(rows, row)
			delete(pick, row.name)
		}
	}
	for name := range pick {
		t.Errorf("matrix row %q not found", name)
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := runFault(t, row)
			if row.fired != nil {
				if msg := row.fired(r); msg != "" {
					t.Errorf("fault did not fire as intended: %s", msg)
				}
			}
			checkOutcome(t, row, r, clean)
			assertNoSecrets(t, row.name, r)
		})
	}
}
