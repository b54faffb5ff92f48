package fetch

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const fastRC = `{"productName":"M365","sku":"NCE","chargeId":"c-1","chargeName":"Monthly","chargeType":"Recurring","billingCycleType":"Monthly",` +
	`"periodFrom":"2024-03-01","periodTo":"2024-03-31","quantity":2,"costPrice":15.21,"costPriceProrated":"7.850","currency":"CAD","isProratable":true}`

const fastSub = `{"id":"5a5a","productName":"M365","description":"d","sku":"NCE","quantity":12,"billingCycle":"monthly",` +
	`"purchaseDate":"2023-11-21T20:27:05.7613888Z","fees":{"recurringFee":19.90,"setupFee":0,"currency":"Cad"},` +
	`"commitmentTerm":{"type":"Monthly", "termEndDate":"2024-04-20"}}`

func receivableBodies() []string {
	env := func(charges string) string {
		return `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":` + charges + `}`
	}
	return []string{
		env(`[` + fastRC + `,` + fastRC + `]`),
		env(`[]`), env(`null`), `{"periodFrom":"2024-03-01","periodTo":"2024-03-31"}`,
		` { "charges" : [ ` + fastRC + ` ] , "periodTo" : "2024-03-31T00:00:00Z" , "periodFrom":"2024-03-01", "extra":{"a":[1,"]"]} } `,
		env(`[` + strings.Replace(fastRC, `"sku":"NCE"`, `"sku":"N\u00e9\"CE","SKU2":null`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"sku":"NCE"`, `"SKU":"x"`, 1) + `]`),           // folded key
		env(`[` + strings.Replace(fastRC, `"sku":"NCE"`, `"sku":"a","sku":"b"`, 1) + `]`), // duplicate
		env(`[` + strings.Replace(fastRC, `"sku":"NCE"`, `"sku":null`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"sku":"NCE"`, `"sku":5`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"isProratable":true`, `"isProratable":null`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"isProratable":true`, `"isProratable":"true"`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"costPrice":15.21`, `"costPrice":null`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"costPriceProrated":"7.850"`, `"costPriceProrated":null`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"quantity":2`, `"quantity":"NaN"`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"periodFrom":"2024-03-01"`, `"periodFrom":""`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"periodFrom":"2024-03-01"`, `"periodFrom":"03/01/2024"`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"periodFrom":"2024-03-01"`, `"periodFrom":"2024-03-01T10:00:00.1234567"`, 1) + `]`),
		env(`[` + strings.Replace(fastRC, `"currency":"CAD"`, `"currency":" "`, 1) + `]`),
		env(`[null]`), env(`{}`), env(`"x"`),
		`{"periodFrom":null,"periodTo":"2024-03-31","charges":[]}`,
		`{"periodFrom":"","periodTo":"2024-03-31","charges":[]}`,
		`{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + fastRC,
		`[]`, `null`, ``, `{}`, "{\"periodFrom\":\"2024-03-01\",\"periodTo\":\"2024-03-31\",\"charges\":[{\"sku\":\"\xff\"}]}",
	}
}

func subscriptionBodies() []string {
	return []string{
		`{"items":[` + fastSub + `,{"id":"6b6b","sku":"AZ","quantity":1,"purchaseDate":"2022-06-01T13:00:00.0000000","fees":null,"commitmentTerm":null}]}`,
		`[` + fastSub + `]`, `[]`, `{"items":[]}`, `{"items":null}`, `{}`, `{"Items":[]}`, `{"items":{}}`, `null`, `"x"`, `[null]`,
		`{"items":[` + strings.Replace(fastSub, `"recurringFee":19.90`, `"recurringFee":"free"`, 1) + `]}`,
		`{"items":[` + strings.Replace(fastSub, `"fees":{`, `"fees":{"Currency":"x",`, 1) + `]}`,
		`{"items":[` + strings.Replace(fastSub, `"fees":{`, `"fees":5,"x":{`, 1) + `]}`,
		`{"items":[` + strings.Replace(fastSub, `"purchaseDate":"2023-11-21T20:27:05.7613888Z"`, `"purchaseDate":"yesterday"`, 1) + `]}`,
		`{"items":[` + strings.Replace(fastSub, `"quantity":12`, `"quantity":12.0`, 1) + `]}`,
		`{"items":[` + fastSub + `],"more":true}`, `{"items":[` + fastSub,
	}
}

// TestFastDecodeAgrees checks that whenever the fast path accepts a body it
// decodes exactly what the encoding/json path decodes, and that the plain
// bodies do take the fast path.
func TestFastDecodeAgrees(t *testing.T) {
	for i, body := range receivableBodies() {
		p, out, ok := fastReceivables([]byte(body))
		wp, wout, werr := decodeReceivablesJSON([]byte(body), "c")
		if i < 6 && !ok {
			t.Errorf("receivables #%d: fast path refused a plain body", i)
		}
		if ok && (werr != nil || p != wp || !reflect.DeepEqual(out, wout)) {
			t.Errorf("receivables #%d: fast = %v %+v\nslow = %v %+v %v", i, p, out, wp, wout, werr)
		}
	}
	for i, body := range subscriptionBodies() {
		out, ok := fastSubscriptions([]byte(body))
		wout, werr := decodeSubscriptionsJSON([]byte(body), "c")
		if i < 6 && !ok {
			t.Errorf("subscriptions #%d: fast path refused a plain body", i)
		}
		if ok && (werr != nil || !reflect.DeepEqual(out, wout)) {
			t.Errorf("subscriptions #%d: fast = %+v\nslow = %+v %v", i, out, wout, werr)
		}
	}
}

// fastBodiesAgree is FuzzDecode's check of the receivables and
// subscriptions fast paths: whenever one accepts data, it decodes exactly
// what encoding/json decodes.
func fastBodiesAgree(t *testing.T, data []byte) {
	if p, out, ok := fastReceivables(data); ok {
		wp, wout, werr := decodeReceivablesJSON(data, "c")
		if werr != nil || p != wp || !reflect.DeepEqual(out, wout) {
			t.Fatalf("receivables: fast = %v %+v\nslow = %v %+v %v", p, out, wp, wout, werr)
		}
	}
	if out, ok := fastSubscriptions(data); ok {
		wout, werr := decodeSubscriptionsJSON(data, "c")
		if werr != nil || !reflect.DeepEqual(out, wout) {
			t.Fatalf("subscriptions: fast = %+v\nslow = %+v %v", out, wout, werr)
		}
	}
}

func benchReceivableBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strings.Replace(fastRC, `"c-1"`, fmt.Sprintf(`"c-%d"`, i), 1))
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// BenchmarkDecodeReceivables decodes one customer's body of 100 lines.
func BenchmarkDecodeReceivables(b *testing.B) {
	body := benchReceivableBody(100)
	for _, tc := range []struct {
		name string
		fn   func([]byte, string) (any, error)
	}{
		{"fast", func(b []byte, c string) (any, error) { _, o, err := decodeReceivables(b, c, true); return o, err }},
		{"encoding-json", func(b []byte, c string) (any, error) { _, o, err := decodeReceivablesJSON(b, c); return o, err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.fn(body, "c"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
