package fetch

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// fastCharge is a charge with every field, nested lists and accents.
var fastCharge = chargeJSON(7)

func payableElements() []string {
	r := func(old, new string) string { return strings.Replace(fastCharge, old, new, 1) }
	return []string{
		fastCharge, // 0..: plain, must take the fast path
		validCharge,
		r(`"fees":[]`, `"fees":[{"name":"Setup","unitValue":"5.00","totalValue":-5.5,"isTaxable":false},{"name":null,"unitValue":null,"isTaxable":null}]`),
		r(`"invoice":{"number":"INV-1","date":"2024-04-01","periodFrom":"2024-03-01","periodTo":"2024-03-31"}`, `"invoice":null`),
		r(`"tags":[`, `"tags":null,"x":[`),
		r(`"Contoso 7"`, `"Société Générale – 東京"`),
		r(`"sku":"SKU-7"`, `"sku":"a\"b\\c\u00e9\n"`),
		r(`"subTotal":152.10`, `"subTotal":"152.10"`),
		r(`"subTotal":152.10`, `"subTotal":-0.000`),
		r(`"subTotal":152.10`, `"subTotal":123456789012345678`),
		r(`"subTotal":152.10`, `"subTotal":1234567890123456789`),
		r(`"subTotal":152.10`, `"subTotal":-12345678901234567.8`),
		r(`"subTotal":152.10`, `"subTotal":1.5e3`),
		r(`"subTotal":152.10`, `"subTotal":"007.50"`),
		r(`"subTotal":152.10`, `"subTotal":"1."`),
		r(`"subTotal":152.10`, `"subTotal":".5"`),
		r(`"subTotal":152.10`, `"subTotal":"−5"`),
		r(`"subTotal":152.10`, `"subTotal":"+5"`),
		r(`"listPrice":16.90`, `"listPrice":null`),
		r(`"periodFrom":"2024-03-01"`, `"periodFrom":"2024-03-01T10:00:00.1234567Z"`),
		r(`"periodFrom":"2024-03-01"`, `"periodFrom":""`),
		r(`"periodFrom":"2024-03-01"`, `"periodFrom":null`),
		r(`"date":"2024-04-01"`, `"date":"2024-04-01T10:00:00"`),
		r(`"isBilled":true`, `"isBilled":null`),
		r(`{`, `{"unknown":{"a":[1,"}]\"",{"b":null}]},"more":[],`),
		` ` + fastCharge + ` `,
		// the member loop's fallbacks: keys out of order, spaces around colons
		r(`"chargeName":"Monthly subscription","chargeType":"Recurring"`, `"chargeType":"Recurring","chargeName":"Monthly subscription"`),
		r(`"sku":"SKU-7","chargeId"`, `"sku" : "SKU-7" ,`+"\n\t"+`"chargeId"`),
		r(`"fees":[]`, `"fees":[],"productNam":1,"skus":2`),
		// strings off the ASCII path: escapes in valid UTF-8 (jsonscan
		// decodes them), lone surrogates, and flags from the bool cells
		r(`"Contoso 7"`, `"Caf\u00e9 \"Zoë\" – 東京\/x"`),
		r(`"Contoso 7"`, `"é\ud800\ud83d\ude00\udc00"`),
		r(`"isBilled":true,"isProratable":true`, `"isBilled":false,"isProratable":false`),
		// refused or failing ones: the slow path decides
		r(`"Contoso 7"`, "\"\xff\\n\""), // an escape in invalid UTF-8: encoding/json decodes it
		r(`"sku"`, `"SKU"`),
		r(`"sku"`, `"\u0073ku"`),
		r(`"sku"`, `"ſku"`),
		r(`"sku":"SKU-7"`, `"sku":"a","sku":"b"`),
		r(`"deductions":[`, `"deductions":null,"deductions":[`),
		r(`"sku":"SKU-7"`, `"sku":5`),
		r(`"sku":"SKU-7"`, `"sku":"\ud800"`),
		r(`"sku":"SKU-7"`, "\"sku\":\"\xff\xfe\""),
		r(`"subTotal":152.10`, `"subTotal":"abc"`),
		r(`"subTotal":152.10`, `"subTotal":""`),
		r(`"subTotal":152.10`, `"subTotal":true`),
		r(`"subTotal":152.10`, `"subTotal":{}`),
		r(`"subTotal":152.10`, `"subTotal":null`),
		r(`"subTotal":152.10`, `"subTotal":1e99999`),
		r(`"periodTo":"2024-03-31"`, `"periodTo":"2024-02-30"`),
		r(`"periodTo":"2024-03-31"`, `"periodTo":20240331`),
		r(`"isBilled":true`, `"isBilled":"yes"`),
		r(`"date":"2024-04-01"`, `"date":"2024-04-01 10:00"`),
		r(`"fees":[]`, `"fees":[null]`),
		r(`"fees":[]`, `"fees":{}`),
		r(`"taxes":[{`, `"taxes":[{"Name":"x",`),
		r(`"invoice":{`, `"invoice":{"number":1,`),
		r(`"invoice":{`, `"invoice":[{`),
		r(`"currency":"CAD"`, `"currency":" "`),
		r(`"quantity":10,`, ``),
		r(`"sku":"SKU-7"`, `"sku":]`),
		`{}`, `null`, `42`, `[]`, `{"subTotal":1,"quantity":1,"currency":"X"`,
	}
}

// TestFastPayableChargeAgrees checks element by element that the fast parser
// decodes exactly what encoding/json decodes whenever it accepts.
func TestFastPayableChargeAgrees(t *testing.T) {
	vc := new(valueCache) // shared: the later elements find their strings in it
	for i, el := range payableElements() {
		fast, slow := new(billing.PayableCharge), new(billing.PayableCharge)
		ok := fastPayableCharge([]byte(strings.TrimSpace(el)), fast, vc)
		err := json.Unmarshal([]byte(el), slow)
		if i < 32 && !ok {
			t.Errorf("element #%d: fast path refused a plain element: %s", i, el)
		}
		if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
			t.Errorf("element #%d: fast = %+v\nslow = %+v %v", i, fast, slow, err)
		}
	}
}

// decodeBoth decodes body with and without the fast path, through read, and
// fails t when the outcomes differ in any way (charges, period, error text).
func decodeBoth(t *testing.T, body []byte, read func(io.Reader) io.Reader) {
	t.Helper()
	run := func(fast bool) (billing.Period, []*billing.PayableCharge, string) {
		h := &collector{}
		p, err := decodePayable(read(strings.NewReader(string(body))), h, fast)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		return p, h.charges, msg
	}
	fp, fc, ferr := run(true)
	sp, sc, serr := run(false)
	if fp != sp || ferr != serr || !reflect.DeepEqual(fc, sc) {
		t.Fatalf("body %q\nfast: %v %d charges, err %q\nslow: %v %d charges, err %q", snippet(string(body), 300), fp, len(fc), ferr, sp, len(sc), serr)
	}
	for i := range fc {
		for j := range i {
			if fc[i] == fc[j] {
				t.Fatalf("charges #%d and #%d share a pointer", j, i)
			}
		}
	}
}

var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one-byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
}

func payableStreamBodies() []string {
	env := func(charges ...string) string {
		return `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + strings.Join(charges, ",") + `]}`
	}
	els := payableElements()
	bodies := []string{
		env(fastCharge, fastCharge, validCharge),
		env(), `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":null}`,
		`{"charges":[ ` + fastCharge + " ,\n" + fastCharge + ` ] , "periodTo":"2024-03-31","periodFrom":"2024-03-01","tail":{"x":[1]}}`,
		`{"charges":[` + fastCharge + `,]}`,
		`{"charges":[` + fastCharge + fastCharge + `]}`,
		`{"charges":[` + fastCharge + `,` + fastCharge,
		`{"charges":[` + fastCharge + `,` + fastCharge[:300],
		`{"charges":[` + fastCharge + `],"charges":[]}`,
		`{"charges":[` + fastCharge + `]} {}`,
		`{"charges":[` + fastCharge + `]`,
		`{"charges":[` + fastCharge + `],"periodFrom":"2024-03-01","periodTo":"x"}`,
		`{"charges":[null,` + fastCharge + `]}`,
		`{"charges":[` + fastCharge + `,42]}`,
	}
	for _, el := range els {
		bodies = append(bodies, env(fastCharge, el, fastCharge))
	}
	return bodies
}

// TestFastPayableStreamAgrees compares whole streams, fast path against
// encoding/json only: same charges, same period, same error text, for
// readers that deliver the body whole, one byte at a time and in halves.
func TestFastPayableStreamAgrees(t *testing.T) {
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			for _, body := range payableStreamBodies() {
				decodeBoth(t, []byte(body), read)
			}
		})
	}
}

// TestFastPayableLargeStream crosses many buffer compactions.
func TestFastPayableLargeStream(t *testing.T) {
	decodeBoth(t, []byte(payableJSON(3000)), readers["whole"])
	decodeBoth(t, []byte(payableJSON(300)), readers["one-byte"])
	body := payableJSON(3000)
	cut := len(body) * 2 / 3
	decodeBoth(t, []byte(body[:cut]+`"sku":true,`+body[cut:]), readers["half"])
	// A folded key early on: encoding/json decodes the rest of the stream.
	folded := strings.Replace(body, `"sku":"SKU-5"`, `"SKU":"x"`, 1)
	decodeBoth(t, []byte(folded), readers["half"])
}

// fuzzFastAgrees is FuzzDecode's check of the payable fast path: it must
// never disagree with encoding/json, element by element and on whole
// streams.
func fuzzFastAgrees(t *testing.T, data []byte) {
	fast, slow := new(billing.PayableCharge), new(billing.PayableCharge)
	if fastPayableCharge(data, fast, new(valueCache)) {
		if err := json.Unmarshal(data, slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("element: fast = %+v\nslow = %+v %v", fast, slow, err)
		}
	}
	decodeBoth(t, data, readers["whole"])
	decodeBoth(t, data, readers["half"])
	env := []byte(`{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + validCharge + `,` + string(data) + `,` + validCharge + `]}`)
	decodeBoth(t, env, readers["whole"])
	fastBodiesAgree(t, data)
}
