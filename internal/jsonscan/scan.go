// Package jsonscan is the project's one hand-written JSON scanner: a small,
// validating, allocation-light reader of JSON text for the hot paths where
// encoding/json's reflection costs too much (the fetcher's payable fast path
// and the ledger's detail columns).
//
// A Scanner walks one JSON text held in a string. The caller drives it by
// the shape it expects (Object, Array, Str, Bool, Null) and skips or keeps
// the raw text of anything else (Raw). Everything it reads is checked
// against the JSON grammar (RFC 8259), nesting is limited to the depth
// encoding/json accepts, and the first error sticks: later calls return zero
// values and End reports it. Strings are substrings of the input (no copy)
// unless they hold escapes; a caller whose input buffer is reused must copy
// them.
//
// Objects can also be read in a loop (ObjectStart, KeyIs, Key, ObjectNext)
// that matches an expected key against the input as written.
//
// The one difference from encoding/json in what a string decodes to: bytes
// that are not valid UTF-8 are kept as they are (encoding/json replaces each
// with U+FFFD). Escapes, lone surrogates included, decode as encoding/json
// decodes them. FuzzScan checks the scanner against encoding/json.
package jsonscan

import (
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays accepted, the same
// limit as encoding/json's.
const MaxDepth = 10000

// Scanner reads one JSON text. The zero value is not usable; see New.
type Scanner struct {
	s     string
	i     int
	depth int
	err   error
}

// New returns a scanner at the start of s.
func New(s string) *Scanner { return &Scanner{s: s} }

// Reset makes r a scanner at the start of s, as New(s) would return, so that
// a reader of many texts need not allocate one scanner per text.
func (r *Scanner) Reset(s string) { *r = Scanner{s: s} }

// Err returns the first error, or nil.
func (r *Scanner) Err() error { return r.err }

// Offset returns the index of the next unread byte.
func (r *Scanner) Offset() int { return r.i }

// Fail records an error at the current offset, unless one is recorded
// already. Callers use it to give up with their own reason.
func (r *Scanner) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: "+format, append([]any{r.i}, args...)...)
	}
}

func (r *Scanner) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// Peek returns the next non-space byte without consuming it (0 at the end
// or after an error).
func (r *Scanner) Peek() byte {
	r.ws()
	if r.err != nil || r.i >= len(r.s) {
		return 0
	}
	return r.s[r.i]
}

// Expect consumes byte c (after spaces) or fails.
func (r *Scanner) Expect(c byte) {
	if r.Peek() != c {
		r.Fail("want %q", c)
		return
	}
	r.i++
}

// lit consumes the literal w (true, false or null) if it comes next.
func (r *Scanner) lit(w string) bool {
	if r.Peek() == w[0] && len(r.s)-r.i >= len(w) && r.s[r.i:r.i+len(w)] == w {
		r.i += len(w)
		return true
	}
	return false
}

// Null consumes a null and reports whether there was one.
func (r *Scanner) Null() bool { return r.lit("null") }

// Bool reads true, false or null (nil).
func (r *Scanner) Bool() *bool {
	v, null := r.BoolOrNull()
	if null || r.err != nil {
		return nil
	}
	return &v
}

// BoolOrNull reads true, false or null (null reports true), without
// allocating. After a failure both are false.
func (r *Scanner) BoolOrNull() (v, null bool) {
	switch {
	case r.lit("true"):
		return true, false
	case r.lit("false"):
		return false, false
	case r.lit("null"):
		return false, true
	}
	r.Fail("want true, false or null")
	return false, false
}

// Str reads a string and returns it decoded.
func (r *Scanner) Str() string {
	if r.Peek() != '"' {
		r.Fail("want a string")
		return ""
	}
	r.i++
	start := r.i
	for r.i < len(r.s) {
		r.i = stringRun(r.s, r.i)
		if r.i >= len(r.s) {
			break
		}
		switch c := r.s[r.i]; {
		case !special[c] || c >= utf8.RuneSelf:
			r.i++
		case c == '"':
			v := r.s[start:r.i]
			r.i++
			return v
		case c == '\\':
			return r.escaped(start)
		default:
			r.Fail("control character in string")
			return ""
		}
	}
	r.Fail("unterminated string")
	return ""
}

// escaped finishes a string that holds escapes; start is just after its
// opening quote, r.i at the first backslash.
func (r *Scanner) escaped(start int) string {
	b := []byte(r.s[start:r.i])
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			return string(b)
		case c < 0x20:
			r.Fail("control character in string")
			return ""
		case c != '\\':
			b = append(b, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.s) {
			break
		}
		e := r.s[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			ch, ok := r.hex4()
			if !ok {
				return ""
			}
			if utf16.IsSurrogate(ch) {
				if r.i+1 < len(r.s) && r.s[r.i] == '\\' && r.s[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					lo, ok := r.hex4()
					if !ok {
						return ""
					}
					if dec := utf16.DecodeRune(ch, lo); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						continue
					}
					r.i = save
				}
				ch = utf8.RuneError
			}
			b = utf8.AppendRune(b, ch)
		default:
			r.i -= 2
			r.Fail("invalid escape \\%c", e)
			return ""
		}
	}
	r.Fail("unterminated string")
	return ""
}

// hex4 reads the four hex digits of a \u escape.
func (r *Scanner) hex4() (rune, bool) {
	if len(r.s)-r.i < 4 {
		r.Fail("short \\u escape")
		return 0, false
	}
	var v rune
	for _, c := range []byte(r.s[r.i : r.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			r.Fail("invalid \\u escape")
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	r.i += 4
	return v, true
}

// special marks the bytes a string scan must stop at: the quote, the
// backslash, control characters and (for RawString's plain flag) non-ASCII.
var special = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// The string scans skip the bytes they need not look at eight at a time:
// a word of eight bytes is loaded (little-endian) and the classic
// has-zero-byte test, (x - 0x01…01) &^ x & 0x80…80, marks the bytes equal
// to a quote (x ^ 0x22…22 is zero there), to a backslash (x ^ 0x5c…5c) or
// below 0x20 (x - 0x20…20 borrows into bit 7); and, for plainRun, the bytes
// with bit 7 set. The lowest marked byte is always a true one (a borrow
// only runs upwards from a true one), so it is where the run ends.
const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// stopMask marks (bit 7 of each byte) the quotes, backslashes and control
// characters of the eight bytes of x.
func stopMask(x uint64) uint64 {
	q := x ^ (lo8 * '"')
	bs := x ^ (lo8 * '\\')
	return ((q-lo8)&^q | (bs-lo8)&^bs | (x-lo8*0x20)&^x) & hi8
}

func load64(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// stringRun returns the index of the first quote, backslash or control
// character of s at or after i (len(s) if none).
func stringRun(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := stopMask(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s) && !(special[s[i]] && s[i] < utf8.RuneSelf); i++ {
	}
	return i
}

// plainRun is stringRun that also stops at bytes outside ASCII.
func plainRun(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := load64(s, i)
		if m := stopMask(x) | x&hi8; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s) && !special[s[i]]; i++ {
	}
	return i
}

// RawString reads a string, checking it, and returns its text as written
// (quotes included) without decoding it. plain reports that it holds no
// escapes and only ASCII, so that raw[1:len(raw)-1] is its decoded value.
// A next value that is not a string fails.
func (r *Scanner) RawString() (raw string, plain bool) {
	if r.Peek() != '"' {
		r.Fail("want a string")
		return "", false
	}
	start := r.i
	i := plainRun(r.s, r.i+1)
	if i < len(r.s) && r.s[i] == '"' {
		r.i = i + 1
		return r.s[start:r.i], true
	}
	r.skipString()
	if r.err != nil {
		return "", false
	}
	return r.s[start:r.i], false
}

// skipString moves past a string, checking it, without decoding it.
func (r *Scanner) skipString() {
	r.i++ // the opening quote
	for r.i < len(r.s) {
		if r.i = stringRun(r.s, r.i); r.i >= len(r.s) {
			break
		}
		c := r.s[r.i]
		switch {
		case !special[c] || c >= utf8.RuneSelf:
			r.i++
			continue
		case c == '"':
			r.i++
			return
		case c < 0x20:
			r.Fail("control character in string")
			return
		}
		if r.i+1 >= len(r.s) {
			break
		}
		switch e := r.s[r.i+1]; e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			r.i += 2
		case 'u':
			r.i += 2
			if _, ok := r.hex4(); !ok {
				return
			}
		default:
			r.Fail("invalid escape \\%c", e)
			return
		}
	}
	r.Fail("unterminated string")
}

// number moves past a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *Scanner) number() {
	s, i := r.s, r.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		r.Fail("invalid number")
		return
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			r.Fail("invalid number")
			return
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.Fail("invalid number")
			return
		}
	}
	r.i = i
}

// Number reads a number and returns its text as written. A next value
// that is not a number fails.
func (r *Scanner) Number() string {
	if c := r.Peek(); c != '-' && (c < '0' || c > '9') {
		r.Fail("want a number")
		return ""
	}
	start := r.i
	if r.number(); r.err != nil {
		return ""
	}
	return r.s[start:r.i]
}

// Raw skips one value, checking it, and returns its text as written.
func (r *Scanner) Raw() string {
	r.ws()
	start := r.i
	r.skip()
	if r.err != nil {
		return ""
	}
	return r.s[start:r.i]
}

func (r *Scanner) skip() {
	switch c := r.Peek(); {
	case c == '"':
		r.skipString()
	case c == '{':
		for more := r.ObjectStart(); more; more = r.ObjectNext() {
			if r.Peek() != '"' {
				r.Fail("want a string")
				return
			}
			r.skipString() // the key: checked, not decoded
			if r.Expect(':'); r.err != nil {
				return
			}
			r.skip()
		}
	case c == '[':
		r.Array(r.skip)
	case c == '-' || c >= '0' && c <= '9':
		r.number()
	case c == 't':
		r.want("true")
	case c == 'f':
		r.want("false")
	case c == 'n':
		r.want("null")
	default:
		r.Fail("want a value")
	}
}

func (r *Scanner) want(w string) {
	if !r.lit(w) {
		r.Fail("want %s", w)
	}
}

func (r *Scanner) enter() bool {
	r.depth++
	if r.depth > MaxDepth {
		r.Fail("nesting deeper than %d", MaxDepth)
		return false
	}
	return true
}

func (r *Scanner) leave() { r.depth-- }

// Object reads an object, calling field for each key; field must consume
// the value (or fail).
func (r *Scanner) Object(field func(key string)) {
	r.Expect('{')
	if r.err != nil || !r.enter() {
		return
	}
	defer r.leave()
	if r.Peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		key := r.Str()
		r.Expect(':')
		if r.err != nil {
			return
		}
		field(key)
		switch r.Peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.Fail("want ',' or '}'")
		}
	}
}

// ObjectStart consumes the '{' of an object and reports whether a member
// follows (false: the object was empty and is consumed, or a failure).
// With ObjectNext, Key and KeyIs it is the loop form of Object, for
// callers that want no callback per member (the fetcher's decoders):
//
//	for more := r.ObjectStart(); more; more = r.ObjectNext() {
//		if !r.KeyIs(`"expected"`) {
//			key := r.Key()
//			...
//		}
//		... read the value ...
//	}
func (r *Scanner) ObjectStart() bool {
	r.Expect('{')
	if r.err != nil || !r.enter() {
		return false
	}
	if r.Peek() == '}' {
		r.i++
		r.leave()
		return false
	}
	return r.err == nil
}

// ObjectNext, after a member's value, consumes the ',' before the next
// member (true) or the '}' closing the object (false), or fails (false).
func (r *Scanner) ObjectNext() bool {
	switch r.Peek() {
	case ',':
		r.i++
		return true
	case '}':
		r.i++
		r.leave()
		return false
	}
	r.Fail("want ',' or '}'")
	return false
}

// Key reads a member's key and the ':' after it.
func (r *Scanner) Key() string {
	k := r.Str()
	r.Expect(':')
	return k
}

// KeyIs consumes the member key quoted and the ':' after it when they come
// next, and reports whether they did (otherwise it consumes nothing but
// spaces). quoted is the key as written, quotes included; it must be plain
// (ASCII, no escapes or control characters), so that a match is the whole
// key: KeyIs(`"a"`) is Key() == "a" without decoding the key.
func (r *Scanner) KeyIs(quoted string) bool {
	r.ws()
	if r.err != nil || len(r.s)-r.i < len(quoted) || r.s[r.i:r.i+len(quoted)] != quoted {
		return false
	}
	j := r.i + len(quoted)
	for j < len(r.s) && (r.s[j] == ' ' || r.s[j] == '\t' || r.s[j] == '\n' || r.s[j] == '\r') {
		j++
	}
	if j >= len(r.s) || r.s[j] != ':' {
		return false
	}
	r.i = j + 1
	return true
}

// Array reads an array, calling elem for each element; elem must consume it
// (or fail).
func (r *Scanner) Array(elem func()) {
	r.Expect('[')
	if r.err != nil || !r.enter() {
		return
	}
	defer r.leave()
	if r.Peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		elem()
		switch r.Peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.Fail("want ',' or ']'")
		}
	}
}

// End checks that only spaces follow and returns the first error, if any.
func (r *Scanner) End() error {
	if r.ws(); r.err == nil && r.i < len(r.s) {
		r.Fail("data after the value")
	}
	return r.err
}
