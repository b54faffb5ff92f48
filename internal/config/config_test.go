package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestPrecedence: for every key with a flag, flag beats env beats file beats default.
func TestPrecedence(t *testing.T) {
	fileVal := map[string]string{
		"db": `"file.db"`, "concurrency": `7`, "rate": `2.5`, "max_attempts": `3`, "max_wait": `"5s"`,
		"timeout": `"9s"`, "tolerance": `"0.05"`, "low_margin_percent": `"5"`, "detail": `"csv"`,
		"fail_on_findings": `true`, "no_subscriptions": `true`,
	}
	want := map[string][3]string{ // file, env, flag
		"db": {"file.db", "env.db", "flag.db"}, "concurrency": {"7", "8", "9"}, "rate": {"2.5", "3", "4"},
		"max_attempts": {"3", "4", "5"}, "max_wait": {"5s", "6s", "7s"}, "timeout": {"9s", "10s", "11s"},
		"tolerance": {"0.05", "0.06", "0.07"}, "low_margin_percent": {"5", "6", "7"}, "detail": {"csv", "xlsx", "csv"},
		"fail_on_findings": {"true", "false", "true"}, "no_subscriptions": {"true", "false", "true"},
	}
	for _, k := range Keys {
		if k.Flag == "" {
			continue
		}
		w, ok := want[k.Name]
		if !ok {
			t.Fatalf("key %s has a flag but no precedence case", k.Name)
		}
		f, err := Parse("t.toml", []byte(k.Name+" = "+fileVal[k.Name]+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name       string
			file       *File
			env, flags map[string]string
			want, orig string
		}{
			{"default", nil, nil, nil, k.Default, OriginDefault},
			{"file beats default", f, nil, nil, w[0], OriginFile},
			{"env beats file", f, map[string]string{k.Env: w[1]}, nil, w[1], OriginEnv},
			{"flag beats env", f, map[string]string{k.Env: w[1]}, map[string]string{k.Name: w[2]}, w[2], OriginFlag},
		} {
			eff, err := Resolve(tc.file, envOf(tc.env), tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := eff.Setting(k.Name)
			if s.Value != tc.want || s.Origin != tc.orig {
				t.Errorf("%s %s: got %q from %s, want %q from %s", k.Name, tc.name, s.Value, s.Origin, tc.want, tc.orig)
			}
		}
	}
}

func TestSecretsFromEnvAndFiles(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "secret")
	if err := os.WriteFile(sec, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("t.toml", []byte("client_secret_file = \""+sec+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	eff, err := Resolve(f, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := eff.Setting("client_secret"); s.Value != "from-file" || s.Origin != OriginFile || s.Display() != "(set)" {
		t.Errorf("client_secret_file: %+v display %q", s.Origin, s.Display())
	}
	eff, _ = Resolve(f, envOf(map[string]string{"SHERWEB_CLIENT_SECRET": "from-env"}), nil)
	if s, _ := eff.Setting("client_secret"); s.Value != "from-env" || s.Origin != OriginEnv {
		t.Errorf("env did not beat the file: %s", s.Origin)
	}
	if s, _ := eff.Setting("subscription_key"); s.Display() != "(not set)" {
		t.Errorf("unset secret displays %q", s.Display())
	}
}

func TestStrictErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"db = \"x\"\nconcurency = 3\n", []string{"line 2", `"concurency"`, "unknown key"}},
		{"db = \"x\"\n\nconcurrency = \"three\"\n", []string{"line 3", `"concurrency"`}},
		{"tolerance = 0.01\n", []string{"line 1", `"tolerance"`}},
		{"max_wait = \"soon\"\n", []string{"line 1", "max_wait"}},
		{"[[mapping]]\ntag = \"CustomerDisplayName\"\nvalu = \"x\"\n", []string{"line 3", "mapping.valu"}},
		{"[[mapping]]\ntag = \"CustomerDisplayName\"\nvalue = \"x\"\n", []string{"line 1", "customer_id"}},
		{"fail_on_findings = \"yes\"\n", []string{"line 1", "fail_on_findings"}},
	} {
		_, err := Parse("t.toml", []byte(tc.text))
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.text, err, w)
			}
		}
	}
}

func TestInlineSecretRefusedInReadableFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "reconcile.toml")
	if err := os.WriteFile(p, []byte("client_secret = \"s3cr3t\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "client_secret") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("inline secret in a 0644 file: %v", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("the error shows the secret: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatalf("inline secret in a 0600 file: %v", err)
	}
}

func TestExampleFileListsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../reconcile.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	names := SortedKeys()
	names = append(names, "client_secret_file", "subscription_key_file", "email.password_file", "[[mapping]]", "[[internal]]")
	for _, k := range names {
		// A key of a table is its "# name =" line under the table's header.
		if table, name, ok := strings.Cut(k, "."); ok {
			i := strings.Index(text, "# ["+table+"]\n")
			if i < 0 || !strings.Contains(text[i:], "\n# "+name+" = ") {
				t.Errorf("reconcile.example.toml does not list %s under [%s]", name, table)
			}
			continue
		}
		if !strings.Contains(text, k) {
			t.Errorf("reconcile.example.toml does not mention %s", k)
		}
	}
	// Every key is listed with its environment variable.
	for _, k := range Keys {
		if k.Env != "" && !strings.Contains(text, "$"+k.Env) {
			t.Errorf("reconcile.example.toml does not name $%s (key %s)", k.Env, k.Name)
		}
	}
	// Uncommented, it parses, and every key has a value.
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if u, ok := strings.CutPrefix(l, "# "); ok && (strings.Contains(u, " = ") || strings.HasPrefix(u, "[")) {
			l = u
		}
		lines = append(lines, l)
	}
	f, err := Parse("example", []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("the example, uncommented, does not parse: %v", err)
	}
	for _, k := range names {
		if _, ok := f.Value(k); !ok && !strings.HasPrefix(k, "[[") {
			t.Errorf("the example, uncommented, gives %s no value", k)
		}
	}
}

// TestEmailKeys: an [email] key resolves env > file > default like every
// other key; addresses are comma-separated; the password follows the
// secret rule (inline only in a file nobody else can read; password_file).
func TestEmailKeys(t *testing.T) {
	f, err := Parse("t.toml", []byte("[email]\nfrom = \"file@msp.example\"\nto = [\"a@msp.example\", \"b@msp.example\"]\nport = 2525\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		file       *File
		env        map[string]string
		want, orig string
	}{
		{"default", nil, nil, "", OriginDefault},
		{"file beats default", f, nil, "file@msp.example", OriginFile},
		{"env beats file", f, map[string]string{"RECONCILE_MAIL_FROM": "env@msp.example"}, "env@msp.example", OriginEnv},
	} {
		eff, err := Resolve(tc.file, envOf(tc.env), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := eff.Setting("email.from"); s.Value != tc.want || s.Origin != tc.orig {
			t.Errorf("email.from %s: got %q from %s, want %q from %s", tc.name, s.Value, s.Origin, tc.want, tc.orig)
		}
	}
	eff, _ := Resolve(f, envOf(nil), nil)
	if got := eff.Get("email.to"); got != "a@msp.example, b@msp.example" {
		t.Errorf("email.to = %q", got)
	}
	if got, _ := eff.Setting("email.tls"); got.Value != "starttls" || got.Origin != OriginDefault {
		t.Errorf("email.tls default: %+v", got)
	}
	if got := eff.Get("email.port"); got != "2525" {
		t.Errorf("email.port = %q", got)
	}
	if _, err := Parse("t.toml", []byte("[email]\nhots = \"x\"\n")); err == nil || !strings.Contains(err.Error(), "email.hots") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("typo in [email]: %v", err)
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "reconcile.toml")
	if err := os.WriteFile(p, []byte("[email]\npassword = \"smtp-s3cr3t\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p)
	if err == nil || !strings.Contains(err.Error(), "email.password") || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "smtp-s3cr3t") {
		t.Fatalf("inline SMTP password in a 0640 file: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	lf, err := Load(p)
	if err != nil {
		t.Fatalf("inline SMTP password in a 0600 file: %v", err)
	}
	eff, _ = Resolve(lf, envOf(nil), nil)
	if s, _ := eff.Setting("email.password"); s.Value != "smtp-s3cr3t" || s.Display() != "(set)" || s.Origin != OriginFile {
		t.Errorf("inline password: %+v shown %q", s.Origin, s.Display())
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// password_file in a world-readable config file is fine: it names a file.
	if err := os.WriteFile(p, []byte("[email]\npassword_file = \""+pw+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if lf, err = Load(p); err != nil {
		t.Fatal(err)
	}
	eff, _ = Resolve(lf, envOf(nil), nil)
	if s, _ := eff.Setting("email.password"); s.Value != "from-file" || s.Origin != OriginFile {
		t.Errorf("password_file: %q from %s", s.Value, s.Origin)
	}
	eff, _ = Resolve(lf, envOf(map[string]string{"RECONCILE_SMTP_PASSWORD": "from-env"}), nil)
	if s, _ := eff.Setting("email.password"); s.Value != "from-env" || s.Origin != OriginEnv {
		t.Errorf("env did not beat password_file: %s", s.Origin)
	}
}
