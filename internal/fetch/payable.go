package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// decodePayable streams a GetPayableCharges body into h: it reads the
// top-level object key by key and the charges array element by element, so
// memory does not grow with the number of charges. periodFrom and periodTo
// may come before or after charges, unknown keys are skipped and
// "charges": null means no charges. Every charge passes Validate before h
// sees it.
//
// Errors: a body that ends early is errTruncated (retryable); read failures
// from r are returned as they are; bad data is a *DecodeError; an error from
// h is a *handlerError.
func decodePayable(r io.Reader, h PayableHandler) (billing.Period, error) {
	rec := &recorder{r: r}
	dec := json.NewDecoder(rec)
	var period billing.Period
	fail := func(where string, err error) (billing.Period, error) {
		return billing.Period{}, streamError(dec, where, err)
	}

	tok, err := dec.Token()
	if err != nil {
		return fail("", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return billing.Period{}, &DecodeError{Endpoint: pathPayable, Err: fmt.Errorf("response is not a JSON object (starts with %s)", tokenText(tok))}
	}
	var rawFrom, rawTo json.RawMessage
	seenCharges := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("", err)
		}
		key, _ := tok.(string)
		switch {
		case strings.EqualFold(key, "periodFrom"):
			if err := dec.Decode(&rawFrom); err != nil {
				return fail("periodFrom", err)
			}
		case strings.EqualFold(key, "periodTo"):
			if err := dec.Decode(&rawTo); err != nil {
				return fail("periodTo", err)
			}
		case strings.EqualFold(key, "charges"):
			if seenCharges {
				return billing.Period{}, &DecodeError{Endpoint: pathPayable, Field: "charges", Err: errors.New("appears twice")}
			}
			seenCharges = true
			if err := decodeCharges(dec, rec, h); err != nil {
				return billing.Period{}, err
			}
		default:
			if err := skipValue(dec); err != nil {
				return fail(key, err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fail("", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fail("", err)
		}
		return billing.Period{}, &DecodeError{Endpoint: pathPayable, Err: fmt.Errorf("data after the JSON object (%s)", tokenText(tok))}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *billing.Date
	}{{"periodFrom", rawFrom, &period.From}, {"periodTo", rawTo, &period.To}} {
		if err := decodePeriodEnd(f.raw, f.dst); err != nil {
			return billing.Period{}, &DecodeError{Endpoint: pathPayable, Field: f.name, Value: snippet(string(f.raw), 80), Err: err}
		}
	}
	return period, nil
}

// decodeCharges reads the value of "charges": null or an array of charges.
//
// The happy path decodes each element straight from the stream (one scan and
// one decode). Only when an element fails is its raw text, kept by rec, taken
// apart member by member to name the field at fault.
func decodeCharges(dec *json.Decoder, rec *recorder, h PayableHandler) error {
	tok, err := dec.Token()
	if err != nil {
		return streamError(dec, "charges", err)
	}
	if tok == nil {
		return nil // "charges": null
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &DecodeError{Endpoint: pathPayable, Field: "charges", Err: fmt.Errorf("not an array (starts with %s)", tokenText(tok))}
	}
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		rec.keepFrom(start)
		ch := new(billing.PayableCharge) // fresh: h may keep the pointer
		if err := dec.Decode(ch); err != nil {
			if !rec.valueError(err) {
				return streamError(dec, fmt.Sprintf("charge #%d", i), err)
			}
			raw := bytes.TrimLeft(rec.since(start, dec.InputOffset()), " \t\r\n,")
			ch = new(billing.PayableCharge)
			p := decodeRecord(raw, ch)
			if p == nil { // cannot happen: the same bytes failed above
				p = &fieldProblem{err: err}
			}
			return problemError(pathPayable, fmt.Sprintf("charge #%d %s", i, ch.Describe()), p)
		}
		if err := ch.Validate(); err != nil {
			return validationError(pathPayable, fmt.Sprintf("charge #%d %s", i, ch.Describe()), err)
		}
		if err := h.Charge(ch); err != nil {
			return &handlerError{fmt.Errorf("handle payable charge #%d %s: %w", i, ch.Describe(), err)}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return streamError(dec, "charges", err)
	}
	return nil
}

// recorder keeps the bytes read through it from a mark onward, so the raw
// text of the element being decoded can be recovered on the error path. It
// drops older bytes lazily, so it holds about one decoder buffer plus one
// element.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // stream offset of buf[0]
	err  error // the first read error other than io.EOF
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	if err != nil && err != io.EOF && rc.err == nil {
		rc.err = err
	}
	return n, err
}

// valueError reports whether an error from json.Decoder.Decode is about a
// whole, well-formed value that does not fit the type (a type mismatch or an
// UnmarshalJSON error such as a bad decimal), rather than a read failure, a
// truncated stream or malformed JSON.
func (rc *recorder) valueError(err error) bool {
	var se *json.SyntaxError
	switch {
	case rc.err != nil, err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &se):
		return false
	}
	return true
}

// keepFrom allows the bytes before stream offset off to be dropped.
func (rc *recorder) keepFrom(off int64) {
	drop := int(off - rc.base)
	if drop < 64<<10 || drop < len(rc.buf)/2 {
		return
	}
	rc.buf = rc.buf[:copy(rc.buf, rc.buf[drop:])]
	rc.base = off
}

// since returns the recorded bytes between stream offsets from and to.
func (rc *recorder) since(from, to int64) []byte {
	i, j := int(from-rc.base), int(to-rc.base)
	if i < 0 || j > len(rc.buf) || i > j {
		return nil
	}
	return rc.buf[i:j]
}

// skipValue reads and discards one JSON value token by token, so an unknown
// member costs no memory beyond its longest string.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// streamError classifies an error from the JSON decoder: the stream ended
// early (retryable), the JSON is malformed (bad data) or reading failed (the
// reader's own, already classified, error).
func streamError(dec *json.Decoder, where string, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		var te *transportError
		if errors.As(err, &te) {
			return err
		}
		return fmt.Errorf("%w after %d bytes: %w", errTruncated, dec.InputOffset(), io.ErrUnexpectedEOF)
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &ue) {
		return &DecodeError{Endpoint: pathPayable, Record: where, Err: fmt.Errorf("malformed JSON near byte %d: %w", dec.InputOffset(), err)}
	}
	return err
}

func tokenText(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return string(v)
	case string:
		return fmt.Sprintf("%q", snippet(v, 40))
	default:
		return fmt.Sprintf("%v", v)
	}
}
