package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// APIError is a non-2xx answer from the Sherweb API. It is built from either
// body shape the API sends: ASP.NET ProblemDetails (title, detail, status,
// traceId) or the Azure API Management gateway shape (statusCode, message).
// A body that is neither is kept as its first 200 bytes of text in Message.
type APIError struct {
	Method     string // "GET"
	Endpoint   string // request path without the query, e.g. "/service-provider/v1/customers"
	StatusCode int
	Title      string // ProblemDetails title
	Message    string // ProblemDetails detail, gateway message, or the start of the raw body
	TraceID    string // ProblemDetails traceId, when sent
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Title != "" && !strings.EqualFold(e.Title, http.StatusText(e.StatusCode)) && e.Title != e.Message {
		b.WriteString(": ")
		b.WriteString(e.Title)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (trace id %s)", e.TraceID)
	}
	return b.String()
}

// RateLimitError is returned when the API asks the client to wait longer than
// Config.MaxWait before retrying (a 429 whose Retry-After, or "Try again in N
// seconds" text, exceeds the cap). The request is not retried: the run ends
// incomplete rather than sleeping for an hour.
type RateLimitError struct {
	Endpoint   string        // request path without the query
	RetryAfter time.Duration // what the server asked for
	MaxWait    time.Duration // the configured cap it exceeded
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("GET %s: rate limited: server asks to wait %s, more than the allowed %s", e.Endpoint, e.RetryAfter, e.MaxWait)
}

// AuthError is a failure to obtain an access token that retrying will not fix
// (the token endpoint answered 4xx: bad client id/secret, unknown scope,
// missing subscription key). It never carries the secret or a token.
type AuthError struct {
	Scope       string // "distributor" or "service-provider"
	StatusCode  int
	Code        string // OAuth2 "error" parameter, or gateway statusCode text
	Description string // OAuth2 "error_description", gateway message, or the start of the body
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "get access token (scope %s): %d %s", e.Scope, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// DecodeError reports data the API sent that cannot be used: malformed JSON, a
// value of the wrong type, or a required field that is null or missing. It
// names the endpoint, the record (charge index and Describe(), customer...) and
// the field. Bad data is not retried: asking again gives the same answer.
type DecodeError struct {
	Endpoint string // request path, e.g. "/distributor/v1/billing/payable-charges"
	Record   string // e.g. `charge #17 0b7d… (sku "X", 2024-03-01..2024-03-31)`; "" for the whole response
	Field    string // JSON field name(s), "" when not about one field
	Value    string // the raw JSON value (shortened), "" when null or missing
	Err      error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Endpoint)
	if e.Record != "" {
		b.WriteString(": ")
		b.WriteString(e.Record)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid data")
	}
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// invalidValueError describes one bad value: `invalid decimal "abc"`.
type invalidValueError struct {
	kind  string // "decimal", "date", "boolean"...
	value string // raw JSON, shortened
	err   error
}

func (e *invalidValueError) Error() string {
	return fmt.Sprintf("invalid %s %s", e.kind, e.value)
}

func (e *invalidValueError) Unwrap() error { return e.err }

// missingError wraps the billing package's FieldError for a DecodeError whose
// Field already names the fields.
type missingError struct{ fe *billing.FieldError }

func (e *missingError) Error() string { return "required value is null or missing" }
func (e *missingError) Unwrap() error { return e.fe }

// transportError is a failure to talk to the server or to read its answer
// (connection reset, stalled body, truncated body). It is retryable.
type transportError struct {
	msg string // already redacted
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// redactedError replaces the text of an error that contained a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// handlerError is an error returned by a PayableHandler. It aborts the fetch
// and is never retried.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// errTruncated marks a response body that ended before the JSON did.
var errTruncated = errors.New("truncated response body")

// errStalled is the cancel cause of an attempt whose response headers or body
// made no progress within RequestTimeout.
var errStalled = errors.New("request timed out")

// Retryable reports whether err is worth retrying: a 429, a 5xx other than
// 501, a timeout, a connection failure or a truncated body. Bad data
// (*DecodeError), other 4xx answers, an over-long Retry-After
// (*RateLimitError), authentication failures and context cancellation are not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var he *handlerError
	var de *DecodeError
	var rl *RateLimitError
	var ae *AuthError
	if errors.As(err, &he) || errors.As(err, &de) || errors.As(err, &rl) || errors.As(err, &ae) {
		return false
	}
	var api *APIError
	if errors.As(err, &api) {
		return retryableStatus(api.StatusCode)
	}
	var te *transportError
	if errors.As(err, &te) {
		// The client returns the caller's ctx error itself, never wrapped
		// in a transportError, so a timeout in here is one of ours.
		return !permanentTransport(te.err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, errTruncated) || errors.Is(err, io.ErrUnexpectedEOF)
}

func retryableStatus(code int) bool {
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return true
	case code >= 500 && code != http.StatusNotImplemented:
		return true
	}
	return false
}

// permanentTransport reports transport failures that a retry cannot fix:
// certificate problems.
func permanentTransport(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// parseErrorBody fills Title, Message and TraceID from an error body in either
// shape (ProblemDetails or API Management gateway), else Message is the start
// of the body text.
func parseErrorBody(e *APIError, body []byte) {
	var pd struct {
		Title      string          `json:"title"`
		Detail     string          `json:"detail"`
		Status     json.RawMessage `json:"status"`
		TraceID    string          `json:"traceId"`
		StatusCode json.RawMessage `json:"statusCode"`
		Message    string          `json:"message"`
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "{") && json.Unmarshal(body, &pd) == nil &&
		(pd.Title != "" || pd.Detail != "" || pd.Message != "" || pd.TraceID != "" || len(pd.Status) > 0 || len(pd.StatusCode) > 0) {
		e.Title = pd.Title
		e.Message = pd.Detail
		if e.Message == "" {
			e.Message = pd.Message
		}
		e.TraceID = pd.TraceID
		return
	}
	e.Message = snippet(trimmed, 200)
}

// snippet returns the first n bytes of s (cut at a rune boundary) with
// control characters replaced, for use in an error message.
func snippet(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}
