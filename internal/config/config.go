// Package config reads the configuration file (TOML) and resolves every
// setting by the precedence of workflow-rules.md: flag > environment > file >
// default. It knows the keys, their environment variables and their flags; it
// does not parse flags itself (cmd does) and imports nothing of this module
// but billing.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// DefaultFile is the file used when neither --config nor RECONCILE_CONFIG
// names one and it exists in the working folder.
const DefaultFile = "reconcile.toml"

// EnvConfig names the configuration file when --config is not given.
const EnvConfig = "RECONCILE_CONFIG"

// Origins of an effective value.
const (
	OriginFlag    = "flag"
	OriginEnv     = "env"
	OriginFile    = "file"
	OriginDefault = "default"
)

// Key is one scalar setting.
type Key struct {
	Name    string // TOML key
	Env     string // environment variable ("" for none)
	Flag    string // command-line flag ("" for none)
	Default string
	Secret  bool
	Help    string
}

// Keys are the scalar settings, in the order `reconcile config` prints them.
// client_secret and subscription_key also have a *_file form (in the file:
// client_secret_file; in the environment: SHERWEB_CLIENT_SECRET_FILE).
var Keys = []Key{
	{Name: "base_url", Env: "SHERWEB_BASE_URL", Default: "https://api.sherweb.com", Help: "API gateway; http:// only for a loopback host"},
	{Name: "client_id", Env: "SHERWEB_CLIENT_ID", Help: "OAuth2 client id (Cumulus: Security > APIs)"},
	{Name: "client_secret", Env: "SHERWEB_CLIENT_SECRET", Secret: true, Help: "OAuth2 client secret; prefer client_secret_file or the environment"},
	{Name: "subscription_key", Env: "SHERWEB_SUBSCRIPTION_KEY", Secret: true, Help: "API subscription key; prefer subscription_key_file or the environment"},
	{Name: "db", Env: "RECONCILE_DB", Flag: "db", Default: "reconcile.db", Help: "ledger database path"},
	{Name: "concurrency", Env: "RECONCILE_CONCURRENCY", Flag: "concurrency", Default: "8", Help: "per-customer API calls in flight"},
	{Name: "rate", Env: "RECONCILE_RATE", Flag: "rate", Default: "0", Help: "client-side request rate ceiling, requests/s (0 = learned)"},
	{Name: "max_attempts", Env: "RECONCILE_MAX_ATTEMPTS", Flag: "max-attempts", Default: "6", Help: "attempts per request"},
	{Name: "max_wait", Env: "RECONCILE_MAX_WAIT", Flag: "max-wait", Default: "1m0s", Help: "longest single wait before a retry"},
	{Name: "timeout", Env: "RECONCILE_TIMEOUT", Flag: "timeout", Default: "1m0s", Help: "per-request timeout"},
	{Name: "tolerance", Env: "RECONCILE_TOLERANCE", Flag: "tolerance", Default: "0.01", Help: "negative-margin tolerance per line key (a decimal string)"},
	{Name: "low_margin_percent", Env: "RECONCILE_LOW_MARGIN", Flag: "low-margin", Default: "", Help: "low_margin finding below this margin % (a decimal string; empty = off)"},
	{Name: "detail", Env: "RECONCILE_DETAIL", Flag: "detail", Default: "xlsx", Help: "xlsx or csv"},
	{Name: "fail_on_findings", Env: "RECONCILE_FAIL_ON_FINDINGS", Flag: "fail-on-findings", Default: "false", Help: "exit 4 when a complete run has open or reopened findings"},
	{Name: "no_subscriptions", Env: "RECONCILE_NO_SUBSCRIPTIONS", Flag: "no-subscriptions", Default: "false", Help: "skip the per-customer subscriptions call"},
	{Name: "output_dir", Env: "RECONCILE_OUTPUT_DIR", Default: "", Help: "folder of the default-named workbook (empty = working folder)"},
	// The [email] table: the mail settings of 'email' and 'run --email'
	// (doctor checks the server when email.host is set).
	{Name: "email.host", Env: "RECONCILE_SMTP_HOST", Help: "SMTP server"},
	{Name: "email.port", Env: "RECONCILE_SMTP_PORT", Help: "SMTP port (empty = 587 for starttls, 465 for tls, 25 for none)"},
	{Name: "email.tls", Env: "RECONCILE_SMTP_TLS", Default: "starttls", Help: "starttls | tls | none (loopback hosts only)"},
	{Name: "email.user", Env: "RECONCILE_SMTP_USER", Help: "SMTP user (no authentication when empty)"},
	{Name: "email.password", Env: "RECONCILE_SMTP_PASSWORD", Secret: true, Help: "SMTP password; prefer password_file or the environment"},
	{Name: "email.from", Env: "RECONCILE_MAIL_FROM", Help: "sender address"},
	{Name: "email.to", Env: "RECONCILE_MAIL_TO", Help: "recipients, comma-separated (--to replaces them)"},
	{Name: "email.cc", Env: "RECONCILE_MAIL_CC", Help: "more recipients, comma-separated"},
	{Name: "email.bcc", Env: "RECONCILE_MAIL_BCC", Help: "more recipients, comma-separated, not in the headers"},
	{Name: "email.subject", Env: "RECONCILE_MAIL_SUBJECT", Default: "Reconciliation {{.Period}}: {{.Status}}", Help: "subject template"},
	{Name: "email.max_bytes", Env: "RECONCILE_MAIL_MAX_BYTES", Default: "20971520", Help: "message size limit in bytes"},
	{Name: "email.retries", Env: "RECONCILE_SMTP_RETRIES", Default: "4", Help: "attempts for transient SMTP failures"},
	{Name: "email.retry_delay", Env: "RECONCILE_SMTP_RETRY_DELAY", Default: "1s", Help: "first backoff (doubling, at most 30s)"},
}

// inlineSecrets are the secrets refused inline in a file that group or
// others can read; each also has a <name>_file form.
var inlineSecrets = []string{"client_secret", "subscription_key", "email.password"}

// KeyByName returns the key of a name.
func KeyByName(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Mapping is a [[mapping]] entry: payable lines with this tag value belong
// to CustomerID (attribution rule 0).
type Mapping struct {
	Tag        string `toml:"tag"`
	Value      string `toml:"value"`
	CustomerID string `toml:"customer_id"`
	Line       int    `toml:"-"`
}

// Internal is an [[internal]] entry: payable lines with this tag value are
// the MSP's own use.
type Internal struct {
	Tag   string `toml:"tag"`
	Value string `toml:"value"`
	Line  int    `toml:"-"`
}

// fileDoc is the file's shape. Pointers tell "absent" from "zero". Amounts
// are strings: money and percentages are never floats.
type fileDoc struct {
	BaseURL             *string    `toml:"base_url"`
	ClientID            *string    `toml:"client_id"`
	ClientSecret        *string    `toml:"client_secret"`
	ClientSecretFile    *string    `toml:"client_secret_file"`
	SubscriptionKey     *string    `toml:"subscription_key"`
	SubscriptionKeyFile *string    `toml:"subscription_key_file"`
	DB                  *string    `toml:"db"`
	Concurrency         *int64     `toml:"concurrency"`
	Rate                *float64   `toml:"rate"`
	MaxAttempts         *int64     `toml:"max_attempts"`
	MaxWait             *string    `toml:"max_wait"`
	Timeout             *string    `toml:"timeout"`
	Tolerance           *string    `toml:"tolerance"`
	LowMarginPercent    *string    `toml:"low_margin_percent"`
	Detail              *string    `toml:"detail"`
	FailOnFindings      *bool      `toml:"fail_on_findings"`
	NoSubscriptions     *bool      `toml:"no_subscriptions"`
	OutputDir           *string    `toml:"output_dir"`
	Email               *emailDoc  `toml:"email"`
	Mapping             []Mapping  `toml:"mapping"`
	Internal            []Internal `toml:"internal"`
}

// emailDoc is the [email] table. Addresses are arrays of strings; their
// effective value is comma-separated, as in the environment.
type emailDoc struct {
	Host         *string  `toml:"host"`
	Port         *int64   `toml:"port"`
	TLS          *string  `toml:"tls"`
	User         *string  `toml:"user"`
	Password     *string  `toml:"password"`
	PasswordFile *string  `toml:"password_file"`
	From         *string  `toml:"from"`
	To           []string `toml:"to"`
	Cc           []string `toml:"cc"`
	Bcc          []string `toml:"bcc"`
	Subject      *string  `toml:"subject"`
	MaxBytes     *int64   `toml:"max_bytes"`
	Retries      *int64   `toml:"retries"`
	RetryDelay   *string  `toml:"retry_delay"`
}

// File is a parsed configuration file.
type File struct {
	Path     string
	values   map[string]string // key → value as text
	Mapping  []Mapping
	Internal []Internal
}

// Value returns a key's value in the file.
func (f *File) Value(name string) (string, bool) {
	if f == nil {
		return "", false
	}
	v, ok := f.values[name]
	return v, ok
}

// Locate returns the configuration file to read: flagPath, else
// $RECONCILE_CONFIG, else ./reconcile.toml when it exists, else "".
func Locate(flagPath string, getenv func(string) string) string {
	if flagPath != "" {
		return flagPath
	}
	if p := getenv(EnvConfig); p != "" {
		return p
	}
	if _, err := os.Stat(DefaultFile); err == nil {
		return DefaultFile
	}
	return ""
}

// Load reads and strictly decodes a configuration file: an unknown key or a
// value of the wrong type is an error naming the key and the line. A secret
// written inline in a file that group or others can read is refused.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		for _, k := range inlineSecrets {
			if _, ok := f.values[k]; ok {
				return nil, fmt.Errorf("config %s: %s is written inline but the file is readable by group or others (mode %04o): run chmod 600 %s, or use %s_file or the environment instead",
					path, k, perm, path, k)
			}
		}
	}
	return f, nil
}

// Parse decodes the text of a configuration file (see Load).
func Parse(path string, b []byte) (*File, error) {
	var doc fileDoc
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, describe(path, err)
	}
	f := &File{Path: path, values: map[string]string{}}
	str := func(k string, p *string) {
		if p != nil {
			f.values[k] = *p
		}
	}
	num := func(k string, p *int64) {
		if p != nil {
			f.values[k] = strconv.FormatInt(*p, 10)
		}
	}
	boolean := func(k string, p *bool) {
		if p != nil {
			f.values[k] = strconv.FormatBool(*p)
		}
	}
	str("base_url", doc.BaseURL)
	str("client_id", doc.ClientID)
	str("client_secret", doc.ClientSecret)
	str("client_secret_file", doc.ClientSecretFile)
	str("subscription_key", doc.SubscriptionKey)
	str("subscription_key_file", doc.SubscriptionKeyFile)
	str("db", doc.DB)
	num("concurrency", doc.Concurrency)
	if doc.Rate != nil {
		f.values["rate"] = strconv.FormatFloat(*doc.Rate, 'f', -1, 64)
	}
	num("max_attempts", doc.MaxAttempts)
	str("max_wait", doc.MaxWait)
	str("timeout", doc.Timeout)
	str("tolerance", doc.Tolerance)
	str("low_margin_percent", doc.LowMarginPercent)
	str("detail", doc.Detail)
	boolean("fail_on_findings", doc.FailOnFindings)
	boolean("no_subscriptions", doc.NoSubscriptions)
	str("output_dir", doc.OutputDir)
	if e := doc.Email; e != nil {
		str("email.host", e.Host)
		num("email.port", e.Port)
		str("email.tls", e.TLS)
		str("email.user", e.User)
		str("email.password", e.Password)
		str("email.password_file", e.PasswordFile)
		str("email.from", e.From)
		for k, list := range map[string][]string{"email.to": e.To, "email.cc": e.Cc, "email.bcc": e.Bcc} {
			if list != nil {
				f.values[k] = strings.Join(list, ", ")
			}
		}
		str("email.subject", e.Subject)
		num("email.max_bytes", e.MaxBytes)
		num("email.retries", e.Retries)
		str("email.retry_delay", e.RetryDelay)
	}
	for _, k := range []string{"max_wait", "timeout", "email.retry_delay"} {
		if v, ok := f.values[k]; ok {
			if _, err := time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("config %s: line %d: %s = %q: want a duration like \"60s\"", path, lineOf(b, tomlName(k)), k, v)
			}
		}
	}
	lines := tableLines(b)
	for i := range doc.Mapping {
		m := &doc.Mapping[i]
		m.Line = lineAt(lines["mapping"], i)
		if strings.TrimSpace(m.Tag) == "" || strings.TrimSpace(m.Value) == "" || strings.TrimSpace(m.CustomerID) == "" {
			return nil, fmt.Errorf("config %s: line %d: [[mapping]] needs tag, value and customer_id", path, m.Line)
		}
	}
	for i := range doc.Internal {
		in := &doc.Internal[i]
		in.Line = lineAt(lines["internal"], i)
		if strings.TrimSpace(in.Tag) == "" || strings.TrimSpace(in.Value) == "" {
			return nil, fmt.Errorf("config %s: line %d: [[internal]] needs tag and value", path, in.Line)
		}
	}
	f.Mapping, f.Internal = doc.Mapping, doc.Internal
	return f, nil
}

// describe turns a TOML decoding error into one naming the key and the line.
func describe(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(e.Key(), ".")))
		}
		return fmt.Errorf("config %s: %s (see reconcile.example.toml for the keys)", path, strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			return fmt.Errorf("config %s: line %d, column %d: key %q: %s", path, row, col, key, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("config %s: line %d, column %d: %s", path, row, col, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// tomlName is a key's name inside its table ("email.password" is
// "password" in [email]).
func tomlName(k string) string {
	if _, name, ok := strings.Cut(k, "."); ok {
		return name
	}
	return k
}

// lineOf is the 1-based line where a top-level key is assigned (0 if not found).
func lineOf(b []byte, key string) int {
	for i, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(t, key); ok && strings.HasPrefix(strings.TrimSpace(rest), "=") {
			return i + 1
		}
	}
	return 0
}

// tableLines returns, per array-of-tables name, the lines of its headers.
func tableLines(b []byte) map[string][]int {
	out := map[string][]int{}
	for i, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[[") {
			if end := strings.Index(t, "]]"); end > 2 {
				name := strings.TrimSpace(t[2:end])
				out[name] = append(out[name], i+1)
			}
		}
	}
	return out
}

func lineAt(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

// Setting is one effective value and where it came from.
type Setting struct {
	Key    string
	Value  string // the secret itself for secrets: print with Display
	Origin string // OriginFlag, OriginEnv, OriginFile or OriginDefault
	Secret bool
	// Source names the variable, flag or file the value came from.
	Source string
}

// Display is the value as `reconcile config` prints it: secrets as "(set)"
// or "(not set)".
func (s Setting) Display() string {
	if s.Secret {
		if s.Value == "" {
			return "(not set)"
		}
		return "(set)"
	}
	return s.Value
}

// Effective is the resolved configuration.
type Effective struct {
	Path     string // the file read, "" for none
	Settings []Setting
	Mapping  []Mapping
	Internal []Internal
	// Warnings are things the user should know (e.g. a secret file readable
	// by others).
	Warnings []string
}

// Get returns the effective value of a key.
func (e *Effective) Get(name string) string {
	for _, s := range e.Settings {
		if s.Key == name {
			return s.Value
		}
	}
	return ""
}

// Setting returns the effective setting of a key.
func (e *Effective) Setting(name string) (Setting, bool) {
	for _, s := range e.Settings {
		if s.Key == name {
			return s, true
		}
	}
	return Setting{}, false
}

// Resolve applies the precedence flag > environment > file > default to every
// key. flags holds the values of the flags given on the command line, by key
// name (only those the user set). Secrets are read from their *_FILE
// variable or *_file key when the value itself is not given.
func Resolve(f *File, getenv func(string) string, flags map[string]string) (*Effective, error) {
	e := &Effective{}
	if f != nil {
		e.Path = f.Path
		e.Mapping, e.Internal = f.Mapping, f.Internal
	}
	for _, k := range Keys {
		s := Setting{Key: k.Name, Secret: k.Secret, Value: k.Default, Origin: OriginDefault}
		if v, ok := flags[k.Name]; ok && k.Flag != "" {
			s.Value, s.Origin, s.Source = v, OriginFlag, "--"+k.Flag
		} else if v, ok, src, err := fromEnv(k, getenv, e); err != nil {
			return nil, err
		} else if ok {
			s.Value, s.Origin, s.Source = v, OriginEnv, src
		} else if v, ok, src, err := fromFile(k, f, e); err != nil {
			return nil, err
		} else if ok {
			s.Value, s.Origin, s.Source = v, OriginFile, src
		}
		if k.Name == "base_url" {
			s.Value = strings.TrimRight(s.Value, "/")
		}
		e.Settings = append(e.Settings, s)
	}
	return e, nil
}

func fromEnv(k Key, getenv func(string) string, e *Effective) (string, bool, string, error) {
	if k.Env == "" {
		return "", false, "", nil
	}
	if v := getenv(k.Env); v != "" {
		return v, true, "$" + k.Env, nil
	}
	if !k.Secret {
		return "", false, "", nil
	}
	if p := getenv(k.Env + "_FILE"); p != "" {
		v, err := readSecretFile(p, "$"+k.Env+"_FILE", e)
		return v, err == nil, "$" + k.Env + "_FILE", err
	}
	return "", false, "", nil
}

func fromFile(k Key, f *File, e *Effective) (string, bool, string, error) {
	if f == nil {
		return "", false, "", nil
	}
	if v, ok := f.values[k.Name]; ok {
		return v, true, f.Path, nil
	}
	if !k.Secret {
		return "", false, "", nil
	}
	if p, ok := f.values[k.Name+"_file"]; ok && p != "" {
		v, err := readSecretFile(p, k.Name+"_file in "+f.Path, e)
		return v, err == nil, f.Path + " (" + k.Name + "_file)", err
	}
	return "", false, "", nil
}

// readSecretFile reads a secret from a file; a file group or others can read
// is accepted with a warning (the secret is as safe as its file).
func readSecretFile(path, from string, e *Effective) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		e.Warnings = append(e.Warnings, fmt.Sprintf("%s (from %s) is readable by others (mode %04o); run chmod 600 on it",
			path, from, st.Mode().Perm()&fs.ModePerm))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SortedKeys returns the key names, sorted (for tests and documentation).
func SortedKeys() []string {
	out := make([]string, 0, len(Keys))
	for _, k := range Keys {
		out = append(out, k.Name)
	}
	sort.Strings(out)
	return out
}
