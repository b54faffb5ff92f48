package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

func TestConfigCommandNeverPrintsSecrets(t *testing.T) {
	dbtest.NoLedger(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reconcile.toml")
	if err := os.WriteFile(cfg, []byte("client_id = \"from-file\"\nsubscription_key = \"inline-key-xyz\"\ndb = \"file.db\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHERWEB_CLIENT_SECRET", "env-secret-abc")
	t.Setenv("SHERWEB_CLIENT_ID", "")
	t.Setenv("RECONCILE_DB", "")
	code, stdout, stderr := runCLI(t, "config", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, secret := range []string{"env-secret-abc", "inline-key-xyz"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("reconcile config printed a secret:\n%s", stdout)
		}
	}
	for _, want := range []string{"(set)", "$SHERWEB_CLIENT_SECRET", "client_id", "from-file", "file.db", cfg} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// A typo is a usage error naming key and line.
	if err := os.WriteFile(cfg, []byte("db = \"x\"\ntolerence = \"0.02\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "config", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "tolerence") {
		t.Errorf("typo: exit %d: %s", code, stderr)
	}
}

// TestConfigFileDrivesRun: the file's db and credentials are used by run;
// a flag still beats the file.
func TestConfigFileDrivesRun(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 20})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("sim-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHERWEB_SUBSCRIPTION_KEY", "")
	t.Setenv("RECONCILE_DB", "")
	cfg := filepath.Join(dir, "c.toml")
	fileDB, flagDB := dbtest.DB(t), dbtest.DB(t)
	text := "db = \"" + fileDB + "\"\nsubscription_key_file = \"" + keyFile + "\"\nconcurrency = 2\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECONCILE_CONFIG", cfg)
	code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--out", filepath.Join(dir, "a.xlsx"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !ledgerExists(t, fileDB) || ledgerExists(t, flagDB) {
		t.Errorf("the file's db was not used")
	}
	code, _, stderr = runCLI(t, "run", "--period", "2026-10", "--db", flagDB, "--out", filepath.Join(dir, "b.xlsx"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !ledgerExists(t, flagDB) {
		t.Errorf("--db did not beat the file")
	}
}

// TestEmailSettingsFromConfigFile: the [email] table drives 'email'; the
// environment beats it; 'reconcile config' shows the password as (set).
func TestEmailSettingsFromConfigFile(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 4, Charges: 20})
	dir := t.TempDir()
	db := dbtest.DB(t)
	mailEnv(t, "", 0)
	for _, k := range []string{"RECONCILE_SMTP_HOST", "RECONCILE_SMTP_PORT", "RECONCILE_SMTP_TLS", "RECONCILE_SMTP_USER",
		"RECONCILE_SMTP_PASSWORD", "RECONCILE_MAIL_FROM", "RECONCILE_MAIL_TO", "RECONCILE_SMTP_RETRIES", "RECONCILE_SMTP_RETRY_DELAY"} {
		t.Setenv(k, "")
	}
	cfg := filepath.Join(dir, "reconcile.toml")
	text := "[email]\nhost = \"localhost\"\ntls = \"none\"\nuser = \"bot\"\npassword = \"file-pw-123\"\n" +
		"from = \"Close <close@file.example>\"\nto = [\"finance@file.example\"]\nsubject = \"Close {{.Period}} from the file\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECONCILE_CONFIG", cfg)
	code, stdout, stderr := runCLI(t, "config")
	if code != exitOK || strings.Contains(stdout, "file-pw-123") {
		t.Fatalf("config: exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"email.password", "(set)", "email.from", "close@file.example", "email.tls", "none"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "a.xlsx")); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	eml := filepath.Join(dir, "m.eml")
	t.Setenv("RECONCILE_MAIL_TO", "env@msp.example")
	if code, _, stderr := runCLI(t, "email", "--period", "2026-10", "--db", db, "--out", filepath.Join(dir, "a.xlsx"), "--dry-run", eml); code != exitOK {
		t.Fatalf("email --dry-run: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(eml)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(b)
	for _, want := range []string{"Subject: Close 2026-10 from the file", "close@file.example", "To: <env@msp.example>"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q (file, or the environment over it)", want)
		}
	}
	if strings.Contains(msg, "finance@file.example") || strings.Contains(msg, "file-pw-123") {
		t.Error("the file's recipients were used over the environment's, or the password is in the message")
	}
	// The secret rule: inline password in a file others can read is refused.
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "email", "--period", "2026-10", "--db", db, "--dry-run", eml)
	if code != exitUsage || !strings.Contains(stderr, "email.password") || strings.Contains(stderr, "file-pw-123") {
		t.Errorf("inline password in a 0644 file: exit %d: %s", code, stderr)
	}
}

// TestEveryLedgerCommandFollowsTheConfigFile: the file's db reaches every
// command that opens the ledger (none falls back to ./reconcile.db), and its
// rules (tolerance, low margin) reach compare and trend, so a comparison
// reconciles each run as its report did.
func TestEveryLedgerCommandFollowsTheConfigFile(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 5, Customers: 6, Charges: 60, History: true})
	dir := t.TempDir()
	t.Chdir(dir) // a stray ./reconcile.db would be created here
	t.Setenv("RECONCILE_DB", "")
	db := dbtest.DB(t)
	cfg := filepath.Join(dir, "c.toml")
	text := "db = \"" + db + "\"\ntolerance = \"0.50\"\nlow_margin_percent = \"100\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECONCILE_CONFIG", cfg)
	for _, p := range []string{"2026-10", "2026-11"} {
		if code, _, stderr := runCLI(t, "run", "--period", p, "--out", filepath.Join(dir, p+".xlsx")); code != exitOK {
			t.Fatalf("run %s: exit %d: %s", p, code, stderr)
		}
	}
	for _, args := range [][]string{
		{"migrate"},
		{"runs"},
		{"report", "--period", "2026-11", "--out", filepath.Join(dir, "r.xlsx")},
		{"compare", "--base", "2026-10", "--period", "2026-11", "--out", filepath.Join(dir, "c.xlsx")},
		{"trend", "--from", "2026-10", "--to", "2026-11", "--out", filepath.Join(dir, "t.xlsx")},
		{"exceptions"},
		{"amend", "plan", "--period", "2026-11", "--out", filepath.Join(dir, "plan.json")},
		{"amend", "log"},
		{"runs", "prune", "--keep", "1"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitOK {
			t.Errorf("%s without --db: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "reconcile.db")); err == nil {
		t.Error("a command opened ./reconcile.db instead of the file's db")
	}

	code, stdout, stderr := runCLI(t, "compare", "--base", "2026-10", "--period", "2026-11", "--out", filepath.Join(dir, "c2.xlsx"), "--json", "-")
	if code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	var c struct {
		Tolerance string `json:"tolerance"`
		Findings  []struct {
			Kind string `json:"kind"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatal(err)
	}
	lowMargin := 0
	for _, f := range c.Findings {
		if f.Kind == "low_margin" {
			lowMargin++
		}
	}
	if c.Tolerance != "0.50" || lowMargin == 0 {
		t.Errorf("compare used tolerance %s and found %d low_margin movements: the file's rules did not reach it", c.Tolerance, lowMargin)
	}
}
