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
//
// fast turns on the hand-written fast path for the charges (payable_fast.go);
// without it every charge is decoded by encoding/json, the reference the
// fast path agrees with (Config.PlainDecoder).
func decodePayable(r io.Reader, h PayableHandler, fast bool) (billing.Period, error) {
	rec := &recorder{r: r}
	dec := &payDec{Decoder: json.NewDecoder(rec)}
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
			if err := decodeCharges(dec, rec, h, fast); err != nil {
				return billing.Period{}, err
			}
		default:
			if err := skipValue(dec.Decoder); err != nil {
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

// payDec is the stream decoder of decodePayable. The fast path reads the
// charges array straight from the recorder and then hands the rest of the
// stream to a fresh json.Decoder (resume); base maps that decoder's offsets
// back onto stream offsets, so errors name the same byte as before.
type payDec struct {
	*json.Decoder
	base int64
}

// InputOffset returns the stream offset of the decoder's position.
func (d *payDec) InputOffset() int64 { return d.base + d.Decoder.InputOffset() }

// Token prefixes that put a fresh json.Decoder in the token state the
// payable decoder is in at the point where it resumes: inside the envelope
// object right after the charges value, at the start of the charges array,
// or in the charges array after an element. They end on delimiters, so
// reading them never looks ahead into the stream.
const (
	resumeAfterCharges = `{"":[]`  // tokens { "" [ ]
	resumeArrayStart   = `{"":[`   // tokens { "" [
	resumeAfterElement = `{"":[[]` // tokens { "" [ [ ]
)

// resume continues the stream at offset at with a new json.Decoder in the
// token state described by prefix (one of the resume constants).
func (d *payDec) resume(rec *recorder, at int64, prefix string) error {
	rec.rewind(at)
	d.Decoder = json.NewDecoder(io.MultiReader(strings.NewReader(prefix), rec))
	d.base = at - int64(len(prefix))
	for d.Decoder.InputOffset() < int64(len(prefix)) {
		if _, err := d.Decoder.Token(); err != nil {
			return fmt.Errorf("resume payable stream at byte %d: %w", at, err) // cannot happen: prefix is valid
		}
	}
	return nil
}

// decodeCharges reads the value of "charges": null or an array of charges.
//
// Elements are read by the fast path (fastCharges) while they are plain;
// from the first one that is not, encoding/json takes over: each element is
// decoded straight from the stream, and only when one fails is its raw text,
// kept by rec, taken apart member by member to name the field at fault.
func decodeCharges(dec *payDec, rec *recorder, h PayableHandler, fast bool) error {
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
	stop, n, closed := dec.InputOffset(), 0, false
	if fast {
		stop, n, closed, err = fastCharges(rec, stop, h)
		if err != nil {
			return err
		}
	}
	prefix := resumeAfterElement
	switch {
	case closed:
		prefix = resumeAfterCharges
	case n == 0:
		prefix = resumeArrayStart
	}
	if err := dec.resume(rec, stop, prefix); err != nil {
		return err
	}
	if closed {
		return nil
	}
	for i := n; dec.More(); i++ {
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
		if err := deliverCharge(h, i, ch); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return streamError(dec, "charges", err)
	}
	return nil
}

// deliverCharge validates charge #i and hands it to h.
func deliverCharge(h PayableHandler, i int, ch *billing.PayableCharge) error {
	if err := ch.Validate(); err != nil {
		return validationError(pathPayable, fmt.Sprintf("charge #%d %s", i, ch.Describe()), err)
	}
	if err := h.Charge(ch); err != nil {
		return &handlerError{fmt.Errorf("handle payable charge #%d %s: %w", i, ch.Describe(), err)}
	}
	return nil
}

// recorder keeps the bytes read through it from a mark onward, so the raw
// text of the element being decoded can be recovered on the error path, and
// so the fast path can parse elements in place. It drops older bytes lazily,
// so it holds about one read buffer plus one element.
//
// Its reader side serves buf[pos:] first (bytes the fast path has read but
// the json.Decoder has not seen yet, see rewind), then reads on from r.
// Read errors are sticky, as they are in json.Decoder.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // stream offset of buf[0]
	pos  int   // next byte of buf for Read; len(buf) when not replaying
	err  error // the first read error other than io.EOF
	rerr error // the first read error, io.EOF included
}

func (rc *recorder) Read(p []byte) (int, error) {
	if rc.pos < len(rc.buf) {
		n := copy(p, rc.buf[rc.pos:])
		rc.pos += n
		return n, nil
	}
	if rc.rerr != nil {
		return 0, rc.rerr
	}
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	rc.pos = len(rc.buf)
	rc.setErr(err)
	return n, err
}

func (rc *recorder) setErr(err error) {
	if err == nil || rc.rerr != nil {
		return
	}
	rc.rerr = err
	if err != io.EOF {
		rc.err = err
	}
}

// fillChunk is the least free space fill reads into.
const fillChunk = 32 << 10

// fill appends the next bytes of r to buf, for the fast path. It reports
// false when r has nothing more to give (end or error, then kept in rerr).
func (rc *recorder) fill() bool {
	if rc.rerr != nil {
		return false
	}
	if cap(rc.buf)-len(rc.buf) < fillChunk {
		nb := make([]byte, len(rc.buf), 2*cap(rc.buf)+fillChunk)
		copy(nb, rc.buf)
		rc.buf = nb
	}
	n, err := rc.r.Read(rc.buf[len(rc.buf):cap(rc.buf)])
	rc.buf = rc.buf[:len(rc.buf)+n]
	rc.setErr(err)
	return n > 0 || err == nil
}

// rewind makes Read serve the recorded bytes from stream offset off on.
func (rc *recorder) rewind(off int64) {
	rc.pos = int(off - rc.base)
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
	rc.pos = max(rc.pos-drop, 0)
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
func streamError(dec interface{ InputOffset() int64 }, where string, err error) error {
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
