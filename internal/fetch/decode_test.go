package fetch

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

const validCharge = `{"chargeId":"0b7d3e52-51f4-4d2b-8c9e-7a6a1e0f2b11","sku":"NCE-M365","periodFrom":"2024-03-01","periodTo":"2024-03-31",` +
	`"chargeType":"Recurring","quantity":10,"subTotal":152.10,"currency":"CAD"}`

func TestDecodePayable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		charges int
		period  billing.Period
		wantErr string // substring; "" = success
		field   string // DecodeError.Field when wantErr is set and the error is about one field
		trunc   bool   // want errTruncated
	}{
		{name: "periods first", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + validCharge + `,` + validCharge + `]}`,
			charges: 2, period: billing.Period{From: "2024-03-01", To: "2024-03-31"}},
		{name: "periods after charges", body: `{"charges":[` + validCharge + `],"periodTo":"2024-03-31T00:00:00Z","periodFrom":"2024-03-01"}`,
			charges: 1, period: billing.Period{From: "2024-03-01", To: "2024-03-31"}},
		{name: "charges null", body: `{"periodFrom":"2024-05-01","periodTo":"2024-05-31","charges":null}`,
			period: billing.Period{From: "2024-05-01", To: "2024-05-31"}},
		{name: "charges empty", body: ` {"periodFrom":"2024-05-01","periodTo":"2024-05-31","charges":[]} ` + "\n",
			period: billing.Period{From: "2024-05-01", To: "2024-05-31"}},
		{name: "charges missing", body: `{"periodFrom":"2024-05-01","periodTo":"2024-05-31"}`,
			period: billing.Period{From: "2024-05-01", To: "2024-05-31"}},
		{name: "unknown keys skipped", body: `{"extra":{"a":[1,{"b":null}],"c":"d"},"periodFrom":"2024-03-01","more":[[]],"periodTo":"2024-03-31","charges":[` +
			strings.Replace(validCharge, `{`, `{"newField":{"x":[1,2]},`, 1) + `],"tail":true}`,
			charges: 1, period: billing.Period{From: "2024-03-01", To: "2024-03-31"}},
		{name: "unknown enum accepted", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` +
			strings.Replace(validCharge, `"Recurring"`, `"Consumption2031"`, 1) + `]}`,
			charges: 1, period: billing.Period{From: "2024-03-01", To: "2024-03-31"}},

		{name: "abc money", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + validCharge + `,` +
			strings.Replace(validCharge, `152.10`, `"abc"`, 1) + `]}`,
			wantErr: `/distributor/v1/billing/payable-charges: charge #1 0b7d3e52-51f4-4d2b-8c9e-7a6a1e0f2b11 (sku "NCE-M365", 2024-03-01..2024-03-31): field subTotal: invalid decimal "abc"`,
			field:   "subTotal"},
		{name: "null subTotal", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` +
			strings.Replace(validCharge, `152.10`, `null`, 1) + `]}`,
			wantErr: `charge #0 0b7d3e52-51f4-4d2b-8c9e-7a6a1e0f2b11 (sku "NCE-M365", 2024-03-01..2024-03-31): field subTotal: required value is null or missing`,
			field:   "subTotal"},
		{name: "missing quantity and currency", body: `{"charges":[{"sku":"X","subTotal":1}]}`,
			wantErr: `charge #0 (no chargeId, sku "X", ..): field quantity, currency`, field: "quantity, currency"},
		{name: "bad nested deduction", body: `{"charges":[` +
			strings.Replace(validCharge, `"currency"`, `"deductions":[{"value":1},{"value":"1,000.00"}],"currency"`, 1) + `]}`,
			wantErr: `field deductions[1].value: invalid decimal "1,000.00"`, field: "deductions[1].value"},
		{name: "bool money", body: `{"charges":[` + strings.Replace(validCharge, `10,`, `true,`, 1) + `]}`,
			wantErr: `field quantity: invalid decimal true`, field: "quantity"},
		{name: "bad date", body: `{"charges":[` + strings.Replace(validCharge, `"2024-03-31"`, `"31/03/2024"`, 1) + `]}`,
			wantErr: `field periodTo: invalid date "31/03/2024"`, field: "periodTo"},
		{name: "charge not an object", body: `{"charges":[42]}`, wantErr: `charge #0`},
		{name: "charges not an array", body: `{"charges":{"a":1}}`, wantErr: `field charges: not an array`, field: "charges"},
		{name: "missing periodTo", body: `{"periodFrom":"2024-03-01","charges":[]}`, wantErr: `field periodTo: required value is null or missing`, field: "periodTo"},
		{name: "null periodFrom", body: `{"periodFrom":null,"periodTo":"2024-03-31"}`, wantErr: `field periodFrom`, field: "periodFrom"},
		{name: "malformed JSON", body: `{"periodFrom":"2024-03-01","charges":[` + validCharge + `,{"sku":]}`, wantErr: `charge #1: malformed JSON`},
		{name: "missing comma", body: `{"charges":[` + validCharge + validCharge + `]}`, wantErr: `malformed JSON`},
		{name: "top level array", body: `[]`, wantErr: `not a JSON object`},
		{name: "trailing data", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31"} {}`, wantErr: `data after the JSON object`},
		{name: "duplicate charges", body: `{"charges":[],"charges":[]}`, wantErr: `appears twice`},

		{name: "empty body", body: ``, trunc: true},
		{name: "prefix without closing", body: `{"periodFrom":"2024-03-01","charges":[` + validCharge, trunc: true},
		{name: "cut in a string", body: `{"periodFrom":"2024-03-01","charges":[{"sku":"NCE-`, trunc: true},
		{name: "cut in a number", body: `{"charges":[{"subTotal":15`, trunc: true},
		{name: "cut before closing brace", body: `{"periodFrom":"2024-03-01","periodTo":"2024-03-31"`, trunc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &collector{}
			p, err := decodePayable(strings.NewReader(tc.body), h, true)
			switch {
			case tc.trunc:
				if !errors.Is(err, errTruncated) || !Retryable(err) {
					t.Fatalf("err = %v, want a retryable truncation", err)
				}
				return
			case tc.wantErr == "":
				if err != nil {
					t.Fatal(err)
				}
				if len(h.charges) != tc.charges || !p.Equal(tc.period) {
					t.Errorf("got %d charges, period %v; want %d, %v", len(h.charges), p, tc.charges, tc.period)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DecodeError", err, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %q\nwant it to contain %q", err, tc.wantErr)
			}
			if tc.field != "" && de.Field != tc.field {
				t.Errorf("field = %q, want %q", de.Field, tc.field)
			}
			if de.Endpoint != pathPayable {
				t.Errorf("endpoint = %q", de.Endpoint)
			}
			if Retryable(err) {
				t.Error("bad data is retryable")
			}
		})
	}
}

func TestDecodePayableMissingFieldIsFieldError(t *testing.T) {
	_, err := decodePayable(strings.NewReader(`{"charges":[{"chargeId":"c1","quantity":1,"currency":"CAD"}]}`), &collector{}, true)
	var fe *billing.FieldError
	if !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0] != "subTotal" {
		t.Fatalf("err = %v, want a billing.FieldError for subTotal", err)
	}
}

func TestDecodePayableReaderError(t *testing.T) {
	boom := &transportError{msg: "connection reset by peer", err: errors.New("reset")}
	r := io.MultiReader(strings.NewReader(`{"charges":[`+validCharge+`,`), errReader{boom})
	_, err := decodePayable(r, &collector{}, true)
	if !errors.Is(err, boom) || !Retryable(err) {
		t.Fatalf("err = %v, want the reader's error, retryable", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeCustomers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		n          int
		wantErr    string
	}{
		{"items", customersBody, 2, ""},
		{"items null", `{"items":null}`, 0, ""},
		{"no items", `{}`, 0, ""},
		{"bare array (2021 versions)", `[{"id":"a","displayName":"A","path":[]}]`, 1, ""},
		{"missing id", `{"items":[{"id":"a","displayName":"A"},{"displayName":"Fabrikam"}]}`, 0, `customer #1 (no id, "Fabrikam"): field id: required value is null or missing`},
		{"bad timestamp", `{"items":[{"id":"a","displayName":"A","suspendedOn":"yesterday"}]}`, 0, `customer #0 a ("A"): field suspendedOn: invalid timestamp "yesterday"`},
		{"items not array", `{"items":"x"}`, 0, `field items: not an array`},
		{"not json", `<html>`, 0, `malformed JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := decodeCustomers([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil || len(cs) != tc.n {
					t.Fatalf("got %d, %v; want %d", len(cs), err, tc.n)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), pathCustomers) {
				t.Fatalf("err = %v\nwant a DecodeError containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := decodeCustomers([]byte(`{"items":[{"id":"a"`)); !errors.Is(err, errTruncated) || !Retryable(err) {
		t.Errorf("truncated customers: err = %v, want retryable truncation", err)
	}
}

func TestDecodeReceivables(t *testing.T) {
	const rc = `{"productName":"M365","sku":"NCE","chargeId":"c-1","chargeName":"Monthly","chargeType":"Recurring","periodFrom":"2024-03-01",` +
		`"periodTo":"2024-03-31","quantity":2,"costPrice":15.21,"costPriceProrated":7.85,"currency":"CAD","isProratable":true}`
	for _, tc := range []struct {
		name, body string
		n          int
		wantErr    string
	}{
		{"ok", `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + rc + `,` + rc + `]}`, 2, ""},
		{"no charges", `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[]}`, 0, ""},
		{"null charges", `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":null}`, 0, ""},
		{"missing period", `{"periodFrom":"2024-03-01","charges":[]}`, 0, `customer cust-9: field periodTo: required value is null or missing`},
		{"null cost", `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + rc + `,` + strings.Replace(rc, "7.85", "null", 1) + `]}`, 0,
			`customer cust-9: charge #1 c-1 (sku "NCE", 2024-03-01..2024-03-31): field costPriceProrated: required value is null or missing`},
		{"bad quantity", `{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":[` + strings.Replace(rc, `"quantity":2`, `"quantity":"NaN"`, 1) + `]}`, 0,
			`customer cust-9: charge #0 c-1 (sku "NCE", 2024-03-01..2024-03-31): field quantity: invalid decimal "NaN"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, lines, err := decodeReceivables([]byte(tc.body), "cust-9", true)
			if tc.wantErr == "" {
				if err != nil || len(lines) != tc.n || p.String() != "2024-03-01..2024-03-31" {
					t.Fatalf("got %v %d %v", p, len(lines), err)
				}
				if tc.n > 0 && billing.Text(lines[0].Amount()) != "15.70" {
					t.Errorf("amount = %s", billing.Text(lines[0].Amount()))
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), pathReceivables) {
				t.Fatalf("err = %v\nwant a DecodeError containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeSubscriptions(t *testing.T) {
	body := `{"items":[{"id":"5a5a","productName":"M365","description":"d","sku":"NCE","quantity":12,"billingCycle":"monthly",` +
		`"purchaseDate":"2023-11-21T20:27:05.7613888Z","fees":{"recurringFee":19.90,"setupFee":0,"currency":"Cad"},` +
		`"commitmentTerm":{"type":"Monthly", "termEndDate":"2024-04-20"}},` +
		`{"id":"6b6b","sku":"AZ","quantity":1,"purchaseDate":"2022-06-01T13:00:00.0000000","fees":null,"commitmentTerm":null}]}`
	subs, err := decodeSubscriptions([]byte(body), "c1", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || string(subs[0].CommitmentTerm) != `{"type":"Monthly","termEndDate":"2024-04-20"}` ||
		billing.Text(subs[0].Fees.RecurringFee.Decimal) != "19.90" || subs[1].PurchaseDate != "2022-06-01T13:00:00Z" {
		t.Errorf("subs = %+v", subs)
	}
	_, err = decodeSubscriptions([]byte(`{"items":[{"id":"x","sku":"S","fees":{"recurringFee":"free"}}]}`), "c1", true)
	if err == nil || !strings.Contains(err.Error(), `customer c1: subscription #0 x (sku "S"): field fees.recurringFee: invalid decimal "free"`) {
		t.Errorf("err = %v", err)
	}
}

// FuzzDecode is the fetch decoders' fuzz target. On arbitrary bytes the
// payable stream decoder must not panic, and when it reports success every
// delivered charge is valid and there is a period; and every fast path
// (payable elements and streams, receivables, subscriptions) must agree
// with encoding/json. The scanner under the fast paths has its own target,
// jsonscan.FuzzScan.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(payableJSON(2)))
	f.Add([]byte(`{"periodFrom":"2024-03-01","periodTo":"2024-03-31","charges":null}`))
	f.Add([]byte(`{"charges":[` + validCharge + `],"periodTo":"2024-03-31","periodFrom":"2024-03-01"}`))
	f.Add([]byte(`{"charges":[{"subTotal":"abc"}]}`))
	f.Add([]byte(`{"x":[[[{}]]],"charges":[null]}`))
	f.Add([]byte(``))
	for _, el := range payableElements() {
		f.Add([]byte(el))
	}
	for _, b := range payableStreamBodies()[:14] {
		f.Add([]byte(b))
	}
	for _, b := range receivableBodies() {
		f.Add([]byte(b))
	}
	for _, b := range subscriptionBodies() {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &collector{}
		p, err := decodePayable(strings.NewReader(string(data)), h, true)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
		} else {
			if p.From == "" || p.To == "" {
				t.Fatalf("success without a period: %v", p)
			}
			for i, c := range h.charges {
				if err := c.Validate(); err != nil {
					t.Fatalf("charge %d delivered but invalid: %v", i, err)
				}
			}
		}
		fuzzFastAgrees(t, data)
	})
}

// genPayable generates a payable response of n charges on the fly, so the
// test input itself takes no memory.
type genPayable struct {
	n, i  int
	buf   []byte
	off   int
	state int // 0 header, 1 charges, 2 trailer, 3 done
}

func (g *genPayable) Read(p []byte) (int, error) {
	for g.off == len(g.buf) {
		g.buf, g.off = g.buf[:0], 0
		switch g.state {
		case 0:
			g.buf = append(g.buf, `{"periodFrom":"2024-03-01","charges":[`...)
			g.state = 1
		case 1:
			if g.i == g.n {
				g.state = 2
				continue
			}
			if g.i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.buf = append(g.buf, chargeJSON(g.i)...)
			g.i++
		case 2:
			g.buf = append(g.buf, `],"periodTo":"2024-03-31"}`...)
			g.state = 3
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// heapWatcher is a PayableHandler that samples the live heap as it goes.
type heapWatcher struct {
	n, every int
	maxHeap  uint64
}

func (h *heapWatcher) Reset() error { return nil }

func (h *heapWatcher) Charge(c *billing.PayableCharge) error {
	h.n++
	if h.n%h.every == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.maxHeap = max(h.maxHeap, ms.HeapAlloc)
	}
	return nil
}

func TestDecodePayableStreamsInBoundedMemory(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	h := &heapWatcher{every: n / 20}
	p, err := decodePayable(&genPayable{n: n}, h, true)
	if err != nil {
		t.Fatal(err)
	}
	if h.n != n || p.String() != "2024-03-01..2024-03-31" {
		t.Fatalf("got %d charges, period %v", h.n, p)
	}
	// 200k charges are ~190 MB of JSON and ~150 MB as structs; streaming
	// keeps the live heap at a few buffers.
	const budget = 8 << 20
	if growth := int64(h.maxHeap) - int64(base); growth > budget {
		t.Errorf("live heap grew by %d bytes while decoding %d charges, budget %d", growth, n, budget)
	}
}

// BenchmarkDecodePayable decodes 10,000 charges with the fast path and with
// encoding/json only (Config.PlainDecoder): the day /fast is not clearly
// faster than /encoding-json, the fast path goes.
func BenchmarkDecodePayable(b *testing.B) {
	body := payableJSON(10_000)
	for _, tc := range []struct {
		name string
		fast bool
	}{{"fast", true}, {"encoding-json", false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodePayable(strings.NewReader(body), discard{}, tc.fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Reset() error                        { return nil }
func (discard) Charge(*billing.PayableCharge) error { return nil }
