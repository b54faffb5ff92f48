package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

type doctorOut struct {
	OK     bool        `json:"ok"`
	Checks []job.Check `json:"checks"`
}

// doctorEnv points the environment at a simulator, a fresh ledger path and
// an output folder; it returns the simulator.
func doctorEnv(t *testing.T) *sherwebsim.Server {
	t.Helper()
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 5, Charges: 30})
	dir := t.TempDir()
	t.Setenv("RECONCILE_DB", dbtest.DB(t))
	t.Setenv("RECONCILE_OUTPUT_DIR", dir)
	t.Setenv("RECONCILE_CONFIG", "")
	return sim
}

func runDoctorJSON(t *testing.T, args ...string) (int, doctorOut, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"doctor", "--json"}, args...)...)
	var out doctorOut
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("doctor --json output: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, secret := range []string{"sim-secret", "sim-key", "wrong-secret", "wrong-key"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Fatalf("doctor printed a secret (%s):\n%s", secret, stdout)
		}
	}
	return code, out, stdout
}

func check(t *testing.T, out doctorOut, name string) job.Check {
	t.Helper()
	for _, c := range out.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, out.Checks)
	return job.Check{}
}

// wantFail asserts the named check failed with a fix mentioning hint.
func wantFail(t *testing.T, code int, out doctorOut, name, hint string) {
	t.Helper()
	if code != exitFailure || out.OK {
		t.Errorf("%s: exit %d ok=%v, want %d and not ok", name, code, out.OK, exitFailure)
	}
	c := check(t, out, name)
	if c.OK || !strings.Contains(c.Fix, hint) {
		t.Errorf("%s: %+v, want a failure whose fix mentions %q", name, c, hint)
	}
}

func TestDoctorAllPassAgainstSimulator(t *testing.T) {
	sim := doctorEnv(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	text := "[[mapping]]\ntag = \"CustomerDisplayName\"\nvalue = \"Legacy Holdings Ltd\"\ncustomer_id = \"" + sim.Customers()[0].ID + "\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runDoctorJSON(t, "--config", cfg)
	if code != exitOK || !out.OK {
		t.Fatalf("doctor against the simulator: exit %d: %+v", code, out.Checks)
	}
	want := []string{"configuration", "credentials", "base URL", "token distributor", "token service-provider",
		"subscription key", "clock", "ledger", "output folder", "mapping"}
	if len(out.Checks) != len(want) {
		t.Fatalf("checks %+v, want %v", out.Checks, want)
	}
	for i, w := range want {
		if out.Checks[i].Name != w {
			t.Errorf("check %d is %q, want %q", i, out.Checks[i].Name, w)
		}
	}
	// An existing, current ledger passes too; doctor creates nothing.
	db := os.Getenv("RECONCILE_DB")
	if ledgerExists(t, db) {
		t.Fatalf("doctor created the ledger %s", db)
	}
	st, err := ledger.Open(context.Background(), db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, _ = runDoctorJSON(t)
	if code != exitOK || !check(t, out, "ledger").OK {
		t.Fatalf("existing ledger: exit %d: %+v", code, out.Checks)
	}
	// The human form: one line per check.
	code, stdout, _ := runCLI(t, "doctor")
	if code != exitOK || strings.Count(stdout, "pass  ") != 10 {
		t.Errorf("human output (exit %d):\n%s", code, stdout)
	}
}

func TestDoctorWrongSecret(t *testing.T) {
	doctorEnv(t)
	t.Setenv("SHERWEB_CLIENT_SECRET", "wrong-secret")
	code, out, _ := runDoctorJSON(t)
	wantFail(t, code, out, "token distributor", "SHERWEB_CLIENT_SECRET")
}

func TestDoctorWrongKey(t *testing.T) {
	doctorEnv(t)
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "wrong-key")
	code, out, _ := runDoctorJSON(t)
	wantFail(t, code, out, "subscription key", "Subscription Key")
}

func TestDoctorPlainHTTPToRemoteHost(t *testing.T) {
	doctorEnv(t)
	t.Setenv("SHERWEB_BASE_URL", "http://api.sherweb.example")
	code, out, _ := runDoctorJSON(t)
	wantFail(t, code, out, "base URL", "https://")
}

func TestDoctorSkewedClock(t *testing.T) {
	doctorEnv(t)
	sim := sherwebsim.New(sherwebsim.Config{Seed: 3, Customers: 5, Charges: 30})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(-7*time.Minute).UTC().Format(http.TimeFormat))
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("SHERWEB_BASE_URL", srv.URL)
	code, out, _ := runDoctorJSON(t)
	wantFail(t, code, out, "clock", "NTP")
	if !strings.Contains(check(t, out, "clock").Found, "by 7m") {
		t.Errorf("clock check does not say by how much: %+v", check(t, out, "clock"))
	}
}

func TestDoctorReadOnlyLedger(t *testing.T) {
	dbtest.SQLiteOnly(t) // a ledger file on a read-only mount
	doctorEnv(t)
	dir := mountTmpfs(t, "8m")
	db := filepath.Join(dir, "l.db")
	st, err := ledger.Open(context.Background(), db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	remount(t, dir, "ro")
	code, out, _ := runDoctorJSON(t, "--db", db)
	wantFail(t, code, out, "ledger", "writable")
}

func TestDoctorUnwritableOutput(t *testing.T) {
	doctorEnv(t)
	t.Setenv("RECONCILE_OUTPUT_DIR", filepath.Join(t.TempDir(), "no-such-folder"))
	code, out, _ := runDoctorJSON(t)
	wantFail(t, code, out, "output folder", "mkdir -p")
}

func TestDoctorMappingUnknownCustomer(t *testing.T) {
	doctorEnv(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte("\n[[mapping]]\ntag = \"CustomerDisplayName\"\nvalue = \"Old Name\"\ncustomer_id = \"no-such-customer\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runDoctorJSON(t, "--config", cfg)
	wantFail(t, code, out, "mapping", "Customer ID")
	if c := check(t, out, "mapping"); !strings.Contains(c.Found, "line 2") || !strings.Contains(c.Found, "no-such-customer") {
		t.Errorf("mapping check does not name the entry: %+v", c)
	}
}

func TestDoctorBadConfig(t *testing.T) {
	doctorEnv(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte("concurency = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runDoctorJSON(t, "--config", cfg)
	wantFail(t, code, out, "configuration", "reconcile.example.toml")
	if c := check(t, out, "configuration"); !strings.Contains(c.Found, "line 1") || !strings.Contains(c.Found, "concurency") {
		t.Errorf("configuration check: %+v", c)
	}
}
