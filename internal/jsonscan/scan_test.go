package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// generic reads any JSON value with the scanner into the shapes
// encoding/json produces with UseNumber: map[string]any, []any, string,
// json.Number, bool, nil.
func generic(r *Scanner) any {
	switch c := r.Peek(); {
	case c == '{':
		m := map[string]any{}
		r.Object(func(k string) { m[k] = generic(r) })
		return m
	case c == '[':
		a := []any{}
		r.Array(func() { a = append(a, generic(r)) })
		return a
	case c == '"':
		return r.Str()
	case c == 't' || c == 'f':
		if b := r.Bool(); b != nil {
			return *b
		}
		return nil
	case c == 'n':
		r.Null()
		return nil
	default:
		return json.Number(r.Raw())
	}
}

// sanitize replaces each byte that is not valid UTF-8 with U+FFFD, as
// encoding/json does when it decodes a string.
func sanitize(v any) any {
	switch v := v.(type) {
	case string:
		var b strings.Builder
		for i := 0; i < len(v); {
			c, n := utf8.DecodeRuneInString(v[i:])
			b.WriteRune(c) // RuneError for an invalid byte
			i += n
		}
		return b.String()
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[sanitize(k).(string)] = sanitize(e)
		}
		return m
	case []any:
		for i := range v {
			v[i] = sanitize(v[i])
		}
	}
	return v
}

// check compares the scanner with encoding/json on data: both accept or
// both refuse it; when they accept, they read the same value, Raw returns
// the value's exact text and a skipping walk accepts it too.
func check(t *testing.T, data []byte) {
	t.Helper()
	r := New(string(data))
	got := generic(r)
	err := r.End()

	valid := json.Valid(data) // encoding/json's grammar and depth check
	if (err == nil) != valid {
		t.Fatalf("%q: scanner error %v, json.Valid %v", data, err, valid)
	}
	if err != nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("%q: valid, but encoding/json cannot decode it: %v", data, err)
	}
	// Map keys: encoding/json keeps the last of duplicate keys, as generic does.
	if got = sanitize(got); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nscanner       %#v\nencoding/json %#v", data, got, want)
	}
	r = New(string(data))
	raw := r.Raw()
	if err := r.End(); err != nil || raw != string(bytes.TrimSpace(data)) {
		t.Fatalf("%q: Raw = %q, %v", data, raw, err)
	}
	checkRawString(t, data, want)
	r = New(string(data))
	num := r.Number()
	if _, isNum := want.(json.Number); (r.End() == nil) != isNum || isNum && num != string(bytes.TrimSpace(data)) {
		t.Fatalf("%q: Number = %q, %v", data, num, r.Err())
	}
	r = New(string(data))
	if got := sanitize(loopGeneric(r)); r.End() != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: the member loop read %#v, %v", data, got, r.Err())
	}
}

// loopGeneric is generic with objects read by the member loop
// (ObjectStart, KeyIs, Key, ObjectNext): it guesses each key to be the
// previous key's successor in a fixed list, as the fetcher does, and the
// guess must not change what is read.
func loopGeneric(r *Scanner) any {
	if r.Peek() != '{' {
		if r.Peek() == '[' {
			a := []any{}
			r.Array(func() { a = append(a, loopGeneric(r)) })
			return a
		}
		return generic(r)
	}
	guesses := []string{`"a"`, `"b"`, `"c"`, `"d"`, `"k"`, `"\u006b"`}
	m := map[string]any{}
	next := 0
	for more := r.ObjectStart(); more; more = r.ObjectNext() {
		var k string
		if g := guesses[next%len(guesses)]; r.KeyIs(g) {
			k = g[1 : len(g)-1]
		} else {
			k = r.Key()
		}
		next++
		m[k] = loopGeneric(r)
	}
	return m
}

// TestKeyIs: KeyIs takes a key only when the key as written and its colon
// come next, and consumes nothing else.
func TestKeyIs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
		rest string
	}{
		{`"ab":1`, true, `1`}, {` "ab" : 1`, true, ` 1`}, {`"ab":`, true, ``},
		{`"abc":1`, false, `"abc":1`}, {`"a":1`, false, `"a":1`}, {`"ab"1`, false, `"ab"1`},
		{`"ab"`, false, `"ab"`}, {`"a`, false, `"a`}, {`"a\u0062":1`, false, `"a\u0062":1`}, {``, false, ``},
	} {
		r := New(tc.in)
		if got := r.KeyIs(`"ab"`); got != tc.want || r.s[r.i:] != tc.rest || r.Err() != nil {
			t.Errorf("%q: KeyIs = %v, rest %q, %v", tc.in, got, r.s[r.i:], r.Err())
		}
	}
}

// TestRuns compares the word-at-a-time string scans with a byte loop on
// every position of strings holding each kind of byte at each offset.
func TestRuns(t *testing.T) {
	slow := func(s string, i int, plain bool) int {
		for ; i < len(s); i++ {
			c := s[i]
			if c == '"' || c == '\\' || c < 0x20 || plain && c >= utf8.RuneSelf {
				break
			}
		}
		return i
	}
	for _, c := range []byte{'"', '\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0x9f, 0xa0, 0xff, 'a'} {
		for n := range 20 {
			for at := range n + 1 {
				b := []byte(strings.Repeat("x", n))
				if at < n {
					b[at] = c
				}
				for _, pre := range []byte{0x01, 0x21, 0xdf} { // a borrow source before the byte
					if at > 0 {
						b[at-1] = pre
					}
					s := string(b)
					for i := range len(s) + 1 {
						if got, want := stringRun(s, i), slow(s, i, false); got != want {
							t.Fatalf("stringRun(%q, %d) = %d, want %d", s, i, got, want)
						}
						if got, want := plainRun(s, i), slow(s, i, true); got != want {
							t.Fatalf("plainRun(%q, %d) = %d, want %d", s, i, got, want)
						}
					}
				}
			}
		}
	}
}

// checkRawString checks RawString on valid JSON data whose value (as
// encoding/json decodes it) is want: a string gives its exact text, plain
// exactly when it holds no escape and no byte outside ASCII, and then the
// text between the quotes is the value; anything else fails.
func checkRawString(t *testing.T, data []byte, want any) {
	t.Helper()
	r := New(string(data))
	raw, plain := r.RawString()
	err := r.End()
	if _, isStr := want.(string); !isStr {
		if err == nil {
			t.Fatalf("%q: RawString accepted a %T", data, want)
		}
		return
	}
	trimmed := string(bytes.TrimSpace(data))
	if err != nil || raw != trimmed {
		t.Fatalf("%q: RawString = %q, %v", data, raw, err)
	}
	wantPlain := !strings.ContainsRune(trimmed, '\\')
	for i := 0; i < len(trimmed); i++ {
		if trimmed[i] >= utf8.RuneSelf {
			wantPlain = false
		}
	}
	if plain != wantPlain || plain && raw[1:len(raw)-1] != want {
		t.Fatalf("%q: RawString plain = %v", data, plain)
	}
}

var seeds = []string{
	`{"a":1,"b":[true,false,null,"x"],"c":{"d":-0.5e+10}}`,
	`  "plain" `, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u0001"`, `"\ud83d\ude00"`, `"\ud83d x"`, `"\ud83d\u0041"`,
	`"\udc00"`, `"日本"`, "\"\xff\xfe\"", "\"a\xc3\"", `0`, `-0`, `1.5E-3`, `123456789012345678901234567890`,
	`[]`, `{}`, `[[[]]]`, `{"a":{"a":{}}}`, `{"k":1,"k":2}`, `{"\u006b":1}`, `null`, `true`, `false`,
	// refused
	``, ` `, `{`, `[`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`,
	`+1`, `0x1`, `NaN`, `tru`, `nul`, `"\q"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"abc`, `{} x`, `1 2`,
	`{"a":1}}`, `[1]]`, `{1:2}`, "{}\x00", `"\`, `'a'`,
}

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
	}
	for _, s := range []string{`"abc`, "\"a\x01\"", `"\q"`, `"\u12"`, `"é`, `"a\"`, `x`, `1`} {
		r := New(s)
		if raw, plain := r.RawString(); raw != "" || plain || r.Err() == nil {
			t.Errorf("%q: RawString = %q, %v, %v", s, raw, plain, r.Err())
		}
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	check(t, []byte(deep))
	check(t, []byte("["+deep+"]"))
}

func TestStrIsAViewUnlessEscaped(t *testing.T) {
	src := `"abc"`
	r := New(src)
	if v := r.Str(); v != "abc" || r.End() != nil || unsafe.StringData(v) != unsafe.StringData(src[1:]) {
		t.Fatalf("Str = %q, %v", v, r.Err())
	}
	if v := New(`"a\nb"`).Str(); v != "a\nb" {
		t.Fatalf("Str = %q", v)
	}
}

func TestErrorsStickAndNameTheOffset(t *testing.T) {
	r := New(`{"a":tru}`)
	r.Object(func(string) { r.Bool() })
	if err := r.End(); err == nil || err.Error() != "offset 5: want true, false or null" {
		t.Fatalf("err = %v", err)
	}
	if r.Str() != "" || r.Peek() != 0 || r.Raw() != "" {
		t.Fatal("calls after an error return values")
	}
}

// FuzzScan is the scanner's one fuzz target: on any input it must agree
// with encoding/json (accept or refuse, and the value read).
func FuzzScan(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
	})
}
