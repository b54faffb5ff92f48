package fetch

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server whose certificate the system roots do not trust is refused: the
// client, built as the command builds it (no HTTPClient, the default
// transport), never sends a request to it, and the error says why. The
// handshake fails before any byte of the request (the client secret in the
// token request included) is sent.
func TestRefusesUntrustedCertificate(t *testing.T) {
	var reached atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "should not be reached", http.StatusTeapot)
	}))
	srv.Config.ErrorLog = log.New(&bytes.Buffer{}, "", 0) // the refused handshakes
	srv.StartTLS()                                        // httptest's self-signed certificate
	t.Cleanup(srv.Close)

	c, err := New(context.Background(), Config{
		BaseURL:         srv.URL + "/api",
		ClientID:        testClientID,
		ClientSecret:    testSecret,
		SubscriptionKey: testSubKey,
		MaxAttempts:     2,
		BaseBackoff:     time.Millisecond,
		RequestTimeout:  10 * time.Second,
		TokenTimeout:    10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Customers(ctx)
	if err == nil {
		t.Fatal("the client accepted a self-signed certificate")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error does not say the certificate was refused: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the refusal waited for the deadline: %v", err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the untrusted server", n)
	}
	for _, s := range []string{testSecret, testSubKey} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("a secret appeared in the error: %v", err)
		}
	}
}

// tlsForbidden are the identifiers that switch off or weaken certificate
// verification or TLS itself: setting any of them is not allowed anywhere in
// the module (tests included; a test needing a TLS server trusts it through
// RootCAs, never by skipping verification). RootCAs is not listed: adding a
// trusted root is verification.
var tlsForbidden = map[string]string{
	"InsecureSkipVerify":    "disables certificate verification",
	"VerifyPeerCertificate": "replaces or weakens certificate verification",
	"VerifyConnection":      "replaces or weakens certificate verification",
	"InsecureCipherSuites":  "offers insecure cipher suites",
	"VersionSSL30":          "allows SSL 3.0",
	"VersionTLS10":          "allows TLS 1.0",
	"VersionTLS11":          "allows TLS 1.1",
}

// No code in the module disables TLS verification: every .go file (this one
// excepted) is parsed and any identifier or string literal naming one of
// tlsForbidden fails the test, as does a //go:debug directive or a go.mod
// godebug setting about tls or x509 (which can turn checks off process-wide).
// Comments may mention the names.
func TestNoCodeDisablesTLSVerification(t *testing.T) {
	root := moduleRoot(t)
	self, err := filepath.Abs("tls_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "go.mod" {
			checkGoModGodebug(t, path)
			return nil
		}
		if !strings.HasSuffix(path, ".go") || path == self {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if why, bad := tlsForbidden[n.Name]; bad {
					t.Errorf("%s:%d: %s %s", rel, fset.Position(n.Pos()).Line, n.Name, why)
				}
			case *ast.BasicLit:
				for name, why := range tlsForbidden {
					if n.Kind == token.STRING && strings.Contains(n.Value, name) {
						t.Errorf("%s:%d: string naming %s (%s)", rel, fset.Position(n.Pos()).Line, name, why)
					}
				}
			}
			return true
		})
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if d, ok := strings.CutPrefix(c.Text, "//go:debug"); ok && godebugAboutTLS(d) {
					t.Errorf("%s:%d: %s", rel, fset.Position(c.Pos()).Line, c.Text)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned only %d .go files under %s: the walk is broken", files, root)
	}
}

// moduleRoot is the folder of the go.mod above the package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/msp-reconcile/reconcile\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("module root not found")
		}
		dir = parent
	}
}

func checkGoModGodebug(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inBlock := false
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "godebug ("):
			inBlock = true
		case inBlock && line == ")":
			inBlock = false
		case inBlock && godebugAboutTLS(line),
			strings.HasPrefix(line, "godebug ") && godebugAboutTLS(strings.TrimPrefix(line, "godebug ")):
			t.Errorf("%s:%d: godebug setting about TLS: %s", path, i+1, line)
		}
	}
}

// godebugAboutTLS reports whether a GODEBUG setting concerns TLS or
// certificates (tls..., x509...).
func godebugAboutTLS(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Contains(s, "tls") || strings.Contains(s, "x509")
}

// A redirect to another host is not followed: the subscription key and the
// client secret stay with the gateway.
func TestRefusesCrossHostRedirect(t *testing.T) {
	var reached atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	t.Cleanup(other.Close)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect) // another port: another origin
	}))
	t.Cleanup(gw.Close)
	c, err := New(context.Background(), Config{
		BaseURL: gw.URL + "/api", ClientID: testClientID, ClientSecret: testSecret, SubscriptionKey: testSubKey,
		MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Customers(context.Background())
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("err = %v, want the redirect refused", err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect to another host", n)
	}
}
