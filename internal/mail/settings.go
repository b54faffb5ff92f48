// Package mail builds and sends the close's report by e-mail: a multipart
// message (plain text and an HTML summary for a phone) with the workbook
// attached, sent over SMTP with github.com/wneessen/go-mail, transient
// failures retried with capped backoff.
//
// The package takes plain values (Settings, Summary, Attachment): it knows
// nothing of the ledger, the fetch or the engine. internal/job turns a
// reconciliation into a Summary and records the delivery in the ledger.
package mail

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"
)

// TLS modes of Settings.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which must succeed (default; port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption: only to a loopback host
)

// Defaults.
const (
	DefaultMaxBytes = 20 << 20 // the size limit of a whole message
	DefaultSubject  = "Reconciliation {{.Period}}: {{.Status}}"
	DefaultTimeout  = 30 * time.Second
)

// Settings configure the mail: the SMTP server, the addresses, the subject
// and the limits. They come from the environment (RECONCILE_SMTP_*,
// RECONCILE_MAIL_*) or from the config file's [email] table (cmd resolves
// them through internal/config). Password is a secret: it is never written to
// a message, a log, an error or the ledger.
type Settings struct {
	Host     string
	Port     int    // 0: 587 for starttls, 465 for tls, 25 for none
	TLS      string // TLSStartTLS (""), TLSImplicit or TLSNone
	User     string
	Password string // RECONCILE_SMTP_PASSWORD(_FILE) or email.password(_file)
	From     string
	To       []string
	Cc       []string
	Bcc      []string
	// Subject is a text/template with .Period (YYYY-MM), .From, .To (the
	// period's dates), .Status (COMPLETE or INCOMPLETE) and .RunID.
	Subject string
	// MaxBytes is the size limit of a whole message (0: DefaultMaxBytes).
	MaxBytes int64
	// OversizeFail makes a message over MaxBytes fail instead of being sent
	// without the detail sheets.
	OversizeFail bool
	// Timeout bounds one connection attempt (0: DefaultTimeout).
	Timeout time.Duration
	// Retry is the backoff of transient failures.
	Retry Retry
}

// Retry is how transient SMTP failures are retried: Attempts in all (0: 4),
// waiting Base, 2×Base, 4×Base, … but never more than Max (0: 1 s and 30 s).
type Retry struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Base <= 0 {
		r.Base = time.Second
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Second
	}
	return r
}

// delay is the wait before attempt n+1 (n ≥ 1).
func (r Retry) delay(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// SplitAddresses splits a comma-separated list of addresses, dropping
// blanks.
func SplitAddresses(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// EffectivePort is the port used: Port, else the default of the TLS mode.
func (s Settings) EffectivePort() int { return s.withDefaults().Port }

// withDefaults fills in the defaults of unset fields.
func (s Settings) withDefaults() Settings {
	s.TLS = strings.ToLower(strings.TrimSpace(s.TLS))
	if s.TLS == "" {
		s.TLS = TLSStartTLS
	}
	if s.Port == 0 {
		switch s.TLS {
		case TLSImplicit:
			s.Port = 465
		case TLSNone:
			s.Port = 25
		default:
			s.Port = 587
		}
	}
	if s.Subject == "" {
		s.Subject = DefaultSubject
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	s.Retry = s.Retry.withDefaults()
	return s
}

// ErrConfig marks a configuration problem (Validate's errors): nothing was
// sent, and retrying will not help.
var ErrConfig = errors.New("mail configuration")

// Validate checks the settings for sending; forSend false (a dry run) does
// not require a server. Its errors wrap ErrConfig and name the environment
// variable to fix.
func (s Settings) Validate(forSend bool) error {
	s = s.withDefaults()
	var probs []string
	if forSend {
		if strings.TrimSpace(s.Host) == "" {
			probs = append(probs, "RECONCILE_SMTP_HOST is not set")
		}
		switch s.TLS {
		case TLSStartTLS, TLSImplicit:
		case TLSNone:
			if s.Host != "" && !IsLoopback(s.Host) {
				probs = append(probs, fmt.Sprintf("RECONCILE_SMTP_TLS=none is only allowed to a loopback host, not %q: use starttls or tls", s.Host))
			}
		default:
			probs = append(probs, fmt.Sprintf("RECONCILE_SMTP_TLS %q: want starttls, tls or none", s.TLS))
		}
		if s.Port < 1 || s.Port > 65535 {
			probs = append(probs, fmt.Sprintf("RECONCILE_SMTP_PORT %d: want 1-65535", s.Port))
		}
		if s.User != "" && s.Password == "" {
			probs = append(probs, "RECONCILE_SMTP_USER is set but RECONCILE_SMTP_PASSWORD (or _FILE) is not")
		}
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		probs = append(probs, fmt.Sprintf("RECONCILE_MAIL_FROM %q: %v", s.From, err))
	}
	if len(s.To)+len(s.Cc)+len(s.Bcc) == 0 {
		probs = append(probs, "no recipients: set RECONCILE_MAIL_TO or give --to")
	}
	for _, list := range []struct {
		name  string
		addrs []string
	}{{"RECONCILE_MAIL_TO", s.To}, {"cc", s.Cc}, {"bcc", s.Bcc}} {
		for _, a := range list.addrs {
			if _, err := mail.ParseAddress(a); err != nil {
				probs = append(probs, fmt.Sprintf("%s: address %q: %v", list.name, a, err))
			}
		}
	}
	if _, err := subjectTemplate(s.Subject); err != nil {
		probs = append(probs, fmt.Sprintf("subject template: %v", err))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(probs, "; "))
	}
	return nil
}

// IsLoopback reports whether host is "localhost" or a loopback IP address.
// Names are not resolved: a name that happens to resolve to a loopback
// address is not trusted with an unencrypted password.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Recipients are all the envelope recipients: to, cc and bcc.
func (s Settings) Recipients() []string {
	out := make([]string, 0, len(s.To)+len(s.Cc)+len(s.Bcc))
	out = append(out, s.To...)
	out = append(out, s.Cc...)
	return append(out, s.Bcc...)
}
