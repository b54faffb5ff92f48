package job

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/fetch"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// Check is one line of `reconcile doctor`: what was checked, whether it
// passed, what it found and, when it failed, how to fix it. Secrets never
// appear in it.
type Check struct {
	Name  string `json:"check"`
	OK    bool   `json:"ok"`
	Found string `json:"found"`
	Fix   string `json:"fix,omitempty"`
}

// DoctorOptions are the set-up to check.
type DoctorOptions struct {
	// ConfigPath is the configuration file read ("" for none); ConfigErr
	// the error reading or resolving it, if any.
	ConfigPath string
	ConfigErr  error

	BaseURL, ClientID, ClientSecret, SubscriptionKey string
	HTTPClient                                       *http.Client // nil: a default client

	DB        string // ledger path
	OutputDir string // where workbooks go ("" = working folder)
	Mapping   []report.MapEntry

	SMTPAddr, SMTPUser, SMTPPassword string // SMTPAddr "" = email not configured

	Now     func() time.Time // default time.Now
	Timeout time.Duration    // per network check (default 20s)
}

// MaxClockSkew is the largest difference between the local clock and the
// server's Date header doctor accepts.
const MaxClockSkew = 5 * time.Minute

// Doctor checks the set-up without changing anything: configuration,
// credentials, base URL, a token per scope, the subscription key (one
// read-only call), the clock against the server's Date header, the ledger
// (opens, migrations current, writable), the output folder, the mapping's
// customers and, when configured, the SMTP server. All checks run; the
// caller exits non-zero unless every Check is OK.
func Doctor(ctx context.Context, o DoctorOptions) []Check {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }

	// Configuration.
	switch {
	case o.ConfigErr != nil:
		add(Check{Name: "configuration", Found: o.ConfigErr.Error(), Fix: "correct the key on the line named (see reconcile.example.toml)"})
	case o.ConfigPath == "":
		add(Check{Name: "configuration", OK: true, Found: "no configuration file: environment and defaults only"})
	default:
		add(Check{Name: "configuration", OK: true, Found: o.ConfigPath + " parses"})
	}

	// Credentials present.
	var missing []string
	for _, kv := range [][2]string{{"client_id", o.ClientID}, {"client_secret", o.ClientSecret}, {"subscription_key", o.SubscriptionKey}} {
		if strings.TrimSpace(kv[1]) == "" {
			missing = append(missing, kv[0])
		}
	}
	credsOK := len(missing) == 0
	if credsOK {
		add(Check{Name: "credentials", OK: true, Found: "client_id, client_secret and subscription_key are set (values not shown)"})
	} else {
		add(Check{Name: "credentials", Found: "missing: " + strings.Join(missing, ", "),
			Fix: "set SHERWEB_CLIENT_ID, SHERWEB_CLIENT_SECRET(_FILE) and SHERWEB_SUBSCRIPTION_KEY(_FILE), or client_id and the *_file keys in the configuration file (Cumulus: Security > APIs)"})
	}

	// Base URL.
	urlOK := fetch.CheckBaseURL(o.BaseURL) == nil
	if urlOK {
		add(Check{Name: "base URL", OK: true, Found: o.BaseURL})
	} else {
		add(Check{Name: "base URL", Found: fetch.CheckBaseURL(o.BaseURL).Error(),
			Fix: "use https:// (plain http:// only for 127.0.0.1, ::1 or localhost): set SHERWEB_BASE_URL or base_url"})
	}

	// Tokens, subscription key, mapping customers.
	var customers []billing.Customer
	customersOK := false
	if credsOK && urlOK {
		client, err := fetch.New(ctx, fetch.Config{
			BaseURL: o.BaseURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, SubscriptionKey: o.SubscriptionKey,
			HTTPClient: hc, RequestTimeout: o.Timeout, TokenTimeout: o.Timeout, MaxAttempts: 2, MaxWait: 2 * time.Second,
		})
		if err != nil {
			add(Check{Name: "client", Found: err.Error(), Fix: "correct the connection settings"})
		} else {
			for _, scope := range fetch.Scopes() {
				cctx, cancel := context.WithTimeout(ctx, o.Timeout)
				err := client.Token(cctx, scope)
				cancel()
				if err != nil {
					add(Check{Name: "token " + scope, Found: err.Error(), Fix: authFix(err)})
				} else {
					add(Check{Name: "token " + scope, OK: true, Found: "a token was issued"})
				}
			}
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			customers, err = client.Customers(cctx)
			cancel()
			if err != nil {
				add(Check{Name: "subscription key", Found: "GET customers: " + err.Error(), Fix: authFix(err)})
			} else {
				customersOK = true
				add(Check{Name: "subscription key", OK: true, Found: fmt.Sprintf("accepted: GET customers returned %d customers", len(customers))})
			}
		}
	} else {
		add(Check{Name: "API access", Found: "not checked: credentials or base URL wrong", Fix: "fix the checks above first"})
	}

	// Clock.
	if urlOK {
		add(clockCheck(ctx, hc, o))
	}

	add(ledgerCheck(ctx, o.DB))
	add(outputCheck(o.OutputDir))

	// Mapping customers.
	switch {
	case len(o.Mapping) == 0:
		add(Check{Name: "mapping", OK: true, Found: "no [[mapping]] entries"})
	case !customersOK:
		add(Check{Name: "mapping", Found: "not checked: the customer list could not be read", Fix: "fix the API checks above first"})
	default:
		known := map[string]bool{}
		for _, c := range customers {
			known[strings.ToLower(c.ID)] = true
		}
		var bad []string
		for _, m := range o.Mapping {
			if !known[strings.ToLower(strings.TrimSpace(m.CustomerID))] {
				bad = append(bad, fmt.Sprintf("line %d: customer_id %q", m.Line, m.CustomerID))
			}
		}
		if len(bad) == 0 {
			add(Check{Name: "mapping", OK: true, Found: fmt.Sprintf("%d [[mapping]] entries name known customers", len(o.Mapping))})
		} else {
			add(Check{Name: "mapping", Found: "unknown customers: " + strings.Join(bad, "; "),
				Fix: "use a customer id from the Customers sheet (column Customer ID) in each [[mapping]] entry"})
		}
	}

	if o.SMTPAddr != "" {
		add(smtpCheck(o))
	}
	return checks
}

func authFix(err error) string {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "subscription key"):
		return "the subscription key was refused: copy the Subscription Key again from Cumulus (Security > APIs) into SHERWEB_SUBSCRIPTION_KEY(_FILE)"
	case strings.Contains(msg, "invalid_client") || strings.Contains(msg, "401") || strings.Contains(msg, "400"):
		return "the client id or secret was refused: check SHERWEB_CLIENT_ID and SHERWEB_CLIENT_SECRET(_FILE) (Cumulus: Security > APIs; a new secret is shown once)"
	case strings.Contains(msg, "403"):
		return "the API application lacks access: enable the Distributor and Service Provider APIs for it in Cumulus"
	default:
		return "check the base URL and the network (proxy, firewall) to the Sherweb API"
	}
}

// clockCheck compares the local clock with the Date header of one response
// from the API gateway (any status: only the header is read).
func clockCheck(ctx context.Context, hc *http.Client, o DoctorOptions) Check {
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, strings.TrimRight(o.BaseURL, "/")+"/", nil)
	if err != nil {
		return Check{Name: "clock", Found: err.Error(), Fix: "correct the base URL"}
	}
	start := o.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Check{Name: "clock", Found: "no response from " + o.BaseURL + ": " + err.Error(), Fix: "check the base URL and the network"}
	}
	_ = resp.Body.Close() // only the header is needed
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Check{Name: "clock", Found: "the server sent no valid Date header", Fix: "nothing to fix locally; the check could not compare clocks"}
	}
	local := start.Add(o.Now().Sub(start) / 2)
	skew := local.Sub(server)
	if skew < 0 {
		skew = -skew
	}
	found := fmt.Sprintf("local clock differs from the server's Date header by %s", skew.Round(time.Second))
	if skew > MaxClockSkew {
		return Check{Name: "clock", Found: found + " (more than 5m)", Fix: "synchronise the clock (NTP: timedatectl set-ntp true, or chrony); tokens and periods depend on it"}
	}
	return Check{Name: "clock", OK: true, Found: found}
}

// ledgerCheck opens the ledger read-only (so nothing is migrated or
// created), checks its migrations are current, and that its file and folder
// can be written.
func ledgerCheck(ctx context.Context, path string) Check {
	if path == "" {
		return Check{Name: "ledger", Found: "no ledger path", Fix: "set --db, RECONCILE_DB or db"}
	}
	dir := filepath.Dir(path)
	if err := probeDir(dir); err != nil {
		return Check{Name: "ledger", Found: fmt.Sprintf("folder %s is not writable: %v", dir, err),
			Fix: "make the folder writable by this user (chmod u+w), or point --db / RECONCILE_DB / db elsewhere"}
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Check{Name: "ledger", OK: true, Found: path + " does not exist yet; the first run creates it (its folder is writable)"}
	}
	st, err := ledger.Open(ctx, path, ledger.Options{ReadOnly: true})
	if err != nil {
		return Check{Name: "ledger", Found: err.Error(),
			Fix: "if migrations are missing, any writing command (reconcile fetch or run) upgrades the ledger; if it is not a ledger, point --db elsewhere"}
	}
	_ = st.Close() // read-only: nothing to lose
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Check{Name: "ledger", Found: fmt.Sprintf("%s opens and its migrations are current, but it is not writable: %v", path, err),
			Fix: "chmod u+w " + path + " (and its -wal/-shm files), or run as the user that owns it"}
	}
	_ = f.Close() // opened only to prove write access
	return Check{Name: "ledger", OK: true, Found: path + " opens, its migrations are current, and it is writable"}
}

func outputCheck(dir string) Check {
	if dir == "" {
		dir = "."
	}
	if err := probeDir(dir); err != nil {
		return Check{Name: "output folder", Found: fmt.Sprintf("%s is not writable: %v", dir, err),
			Fix: "create the folder and make it writable (mkdir -p, chmod u+w), or set output_dir / --out elsewhere"}
	}
	return Check{Name: "output folder", OK: true, Found: dir + " is writable"}
}

// probeDir proves a folder writable by creating and removing a temporary
// file (the only trace doctor leaves, removed at once).
func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".reconcile-doctor-*.tmp")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close() // empty
	return os.Remove(name)
}

// smtpCheck connects to the SMTP server, says hello, starts TLS when offered
// and authenticates when a user is set; it sends no mail.
func smtpCheck(o DoctorOptions) Check {
	host, _, err := net.SplitHostPort(o.SMTPAddr)
	if err != nil {
		return Check{Name: "smtp", Found: err.Error(), Fix: "set email.host (and email.port) or RECONCILE_SMTP_HOST"}
	}
	conn, err := net.DialTimeout("tcp", o.SMTPAddr, o.Timeout)
	if err != nil {
		return Check{Name: "smtp", Found: "connect " + o.SMTPAddr + ": " + err.Error(), Fix: "check email.host, email.port and the network"}
	}
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return Check{Name: "smtp", Found: "greeting: " + err.Error(), Fix: "check that email.host:email.port is an SMTP server"}
	}
	defer c.Close() //nolint:errcheck // nothing was sent
	if err := c.Hello("localhost"); err != nil {
		return Check{Name: "smtp", Found: "HELO: " + err.Error(), Fix: "check the SMTP server"}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return Check{Name: "smtp", Found: "STARTTLS: " + err.Error(), Fix: "check the server's TLS certificate"}
		}
	}
	if o.SMTPUser != "" {
		if err := c.Auth(smtp.PlainAuth("", o.SMTPUser, o.SMTPPassword, host)); err != nil {
			return Check{Name: "smtp", Found: "authentication refused for " + o.SMTPUser, Fix: "check email.user and email.password(_file) (or RECONCILE_SMTP_USER, RECONCILE_SMTP_PASSWORD)"}
		}
	}
	_ = c.Quit() // polite end
	return Check{Name: "smtp", OK: true, Found: o.SMTPAddr + " accepts a connection" + map[bool]string{true: " and the credentials", false: ""}[o.SMTPUser != ""]}
}
