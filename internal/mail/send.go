package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SendError is a failed delivery: every attempt failed, or a permanent
// failure stopped the retries. Nothing was accepted by the server.
type SendError struct {
	Attempts  int
	Temporary bool // the last failure was transient (retries ran out)
	Err       error
}

func (e *SendError) Error() string {
	kind := "permanent failure, not retried"
	if e.Temporary {
		kind = fmt.Sprintf("transient failure, gave up after %d attempts", e.Attempts)
	}
	return fmt.Sprintf("send mail (%s): %v", kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Send delivers the message over SMTP. Transient failures (4xx replies,
// connection refused or reset, timeouts) are retried with capped
// exponential backoff; permanent ones (5xx replies, authentication, a
// missing STARTTLS) are not. It returns the number of attempts made. Errors
// never contain the password.
func Send(ctx context.Context, s Settings, m *Message, log *slog.Logger) (attempts int, err error) {
	s = s.withDefaults()
	if err := s.Validate(true); err != nil {
		return 0, err
	}
	if m.Size > s.MaxBytes {
		return 0, fmt.Errorf("message is %d bytes, over the limit of %d", m.Size, s.MaxBytes)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for attempts = 1; ; attempts++ {
		err = sendOnce(ctx, s, m)
		if err == nil {
			log.Info("mail sent", "host", s.Host, "port", s.Port, "message_id", m.MessageID, "attempts", attempts)
			return attempts, nil
		}
		transient := Transient(err)
		err = redact(err, s.Password)
		if ctx.Err() != nil {
			return attempts, &SendError{Attempts: attempts, Err: errors.Join(ctx.Err(), err)}
		}
		if !transient {
			return attempts, &SendError{Attempts: attempts, Err: err}
		}
		if attempts >= s.Retry.Attempts {
			return attempts, &SendError{Attempts: attempts, Temporary: true, Err: err}
		}
		wait := s.Retry.delay(attempts)
		log.Warn("mail: transient failure, retrying", "attempt", attempts, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempts, &SendError{Attempts: attempts, Err: errors.Join(ctx.Err(), err)}
		case <-t.C:
		}
	}
}

// sendOnce makes one connection and sends the message.
func sendOnce(ctx context.Context, s Settings, m *Message) error {
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(s.Timeout),
	}
	switch s.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.User != "" {
		// Over TLS the strongest mechanism the server offers; without TLS
		// (loopback only, see Validate) PLAIN, which go-mail otherwise
		// refuses on an unencrypted connection.
		auth := gomail.SMTPAuthAutoDiscover
		if s.TLS == TLSNone {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.User), gomail.WithPassword(s.Password))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", s.Host, err)
	}
	if err := c.DialAndSendWithContext(ctx, m.msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.Host, s.Port, err)
	}
	return nil
}

// Transient reports whether a send error is worth retrying: a 4xx reply,
// a refused, reset or closed connection, or a timeout.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code != 0 {
			return code >= 400 && code < 500
		}
		if se.IsTemp() {
			return true
		}
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code >= 400 && tp.Code < 500
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return true
	}
	// go-mail flattens some server replies into text; a reply code at the
	// start of the server's words still tells.
	return replyCode(err.Error())/100 == 4
}

// replyCode finds an SMTP reply code ("421 ...") in an error text.
func replyCode(s string) int {
	for f := range strings.FieldsSeq(s) {
		if len(f) == 3 && f[0] >= '2' && f[0] <= '5' {
			if n, err := strconv.Atoi(f); err == nil {
				return n
			}
		}
	}
	return 0
}

// redact removes the password from an error's text, should any layer ever
// echo it. The redacted error does not unwrap: its chain would still hold
// the text.
func redact(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[REDACTED]"))
}
