package sherwebsim

import (
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// The response bodies are written by hand, line by line, into a reused
// buffer: no reflection, no whole body in memory. Numbers are written with
// appendFx (exact, scale kept) and strings with appendString.

// bodyWriter buffers appends and flushes them to w in chunks.
type bodyWriter struct {
	w      io.Writer
	b      []byte
	n      int64
	err    error
	pooled *[]byte
}

const flushAt = 32 << 10

// bodyBuffers holds the bodyWriters' buffers between requests: a W1M close
// makes 20,000 calls, and a 36 KiB buffer allocated for each of them was
// most of what the simulator's collector worked on (BENCHMARKS.md, round
// thirteen).
var bodyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, flushAt+4096)
	return &b
}}

// newBodyWriter returns a bodyWriter on a pooled buffer; release it when
// the response is written.
func newBodyWriter(w io.Writer) *bodyWriter {
	bp := bodyBuffers.Get().(*[]byte)
	return &bodyWriter{w: w, b: (*bp)[:0], pooled: bp}
}

// release returns the buffer to the pool. The writer must not be used after.
func (bw *bodyWriter) release() {
	if bw.pooled == nil {
		return
	}
	*bw.pooled = bw.b[:0]
	bodyBuffers.Put(bw.pooled)
	bw.pooled, bw.b = nil, nil
}

func (bw *bodyWriter) maybeFlush() error {
	if len(bw.b) >= flushAt {
		return bw.flush()
	}
	return bw.err
}

func (bw *bodyWriter) flush() error {
	if bw.err != nil {
		return bw.err
	}
	if len(bw.b) > 0 {
		n, err := bw.w.Write(bw.b)
		bw.n += int64(n)
		bw.b = bw.b[:0]
		bw.err = err
	}
	return bw.err
}

// flushHTTP flushes the buffer and the HTTP response to the network.
func (bw *bodyWriter) flushHTTP() error {
	if err := bw.flush(); err != nil {
		return err
	}
	if f, ok := bw.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendDate(b []byte, d billing.Date) []byte {
	b = append(b, '"')
	b = append(b, d...)
	return append(b, '"')
}

// invoiceNumber renders the invoice of a month and currency: INV- and 10 digits.
func (g *generator) appendInvoiceNumber(b []byte, pi *periodInfo, currency string) []byte {
	h := splitmix64(uint64(g.seed) ^ pi.key<<8)
	for i := 0; i < len(currency); i++ {
		h = splitmix64(h ^ uint64(currency[i]))
	}
	v := h % 1e10
	var t [10]byte
	for i := 9; i >= 0; i-- {
		t[i] = byte('0' + v%10)
		v /= 10
	}
	b = append(b, `"INV-`...)
	b = append(b, t[:]...)
	return append(b, '"')
}

func appendTaxes(b []byte, mode int, currency string) []byte {
	switch mode {
	case 0:
		return append(b, "null"...)
	case 1:
		return append(b, "[]"...)
	}
	switch currency {
	case "CAD":
		if mode == 3 {
			return append(b, `[{"name":"GST","appliedRate":0.05},{"name":"QST","appliedRate":0.09975}]`...)
		}
		return append(b, `[{"name":"GST","appliedRate":0.05}]`...)
	case "USD":
		return append(b, `[{"name":"Sales tax","appliedRate":0.0825}]`...)
	case "EUR":
		return append(b, `[{"name":"VAT","appliedRate":0.20}]`...)
	}
	return append(b, "[]"...)
}

const (
	tagDisplayNameOpen = `[{"name":"CustomerDisplayName","value":`
	tagCustomerIDOpen  = `[{"name":"CustomerId","value":`
)

func (g *generator) appendTags(b []byte, gr *group) []byte {
	var c *customer
	if gr.ci >= 0 {
		c = &g.customers[gr.ci]
	}
	switch gr.tag {
	case tagName:
		b = append(b, tagDisplayNameOpen...)
		b = append(b, c.nameJSON...)
	case tagNameSpaces:
		b = append(b, tagDisplayNameOpen...)
		b = append(b, `"  `...)
		b = append(b, c.nameJSON[1:len(c.nameJSON)-1]...)
		b = append(b, ` "`...)
	case tagNameLower:
		b = append(b, `[{"name":"customerdisplayname","value":`...)
		b = append(b, c.nameJSON...)
	case tagID:
		b = append(b, tagCustomerIDOpen...)
		b = billing.AppendJSONString(b, c.ID)
	case tagIDUpper:
		b = append(b, tagCustomerIDOpen...)
		b = billing.AppendJSONString(b, c.idUpper)
	case tagIDAndName:
		b = append(b, tagDisplayNameOpen...)
		b = append(b, c.nameJSON...)
		b = append(b, `},{"name":"CustomerId","value":`...)
		b = billing.AppendJSONString(b, c.ID)
	case tagNull:
		return append(b, "null"...)
	case tagEmpty:
		return append(b, "[]"...)
	case tagUnknownName:
		b = append(b, tagDisplayNameOpen...)
		b = billing.AppendJSONString(b, unknownCustomerName)
	case tagUnknownID:
		b = append(b, tagCustomerIDOpen+`"`...)
		b = gr.unknownID.append(b)
		b = append(b, '"')
	}
	return append(b, "}]"...)
}

// Malformations of one payable line (Faults.MalformedPayable).
const (
	malformNone = iota
	malformBadMoney
	malformNullMoney
	malformBadJSON
)

// appendPayable writes one payable charge line as a JSON object.
func (g *generator) appendPayable(b []byte, pi *periodInfo, gr *group, pl *payLine, malform int) []byte {
	if malform == malformBadJSON {
		return append(b, `{"productId":,"sku":"BROKEN"}`...)
	}
	p := gr.prod
	if pl.nullIDs || p == nil {
		b = append(b, `{"productId":null,"productName":null,"sku":null,"chargeId":null,"chargeName":"Adjustment"`...)
	} else {
		b = append(b, `{"productId":"`...)
		b = p.id.append(b)
		b = append(b, `","productName":`...)
		b = append(b, p.nameJSON...)
		b = append(b, `,"sku":`...)
		b = billing.AppendJSONString(b, gr.sku)
		b = append(b, `,"chargeId":"`...)
		b = pl.chargeID.append(b)
		b = append(b, `","chargeName":`...)
		b = append(b, p.chargeJSON...)
	}
	b = append(b, `,"chargeType":`...)
	b = billing.AppendJSONString(b, gr.chargeType)
	b = append(b, `,"billingCycleType":`...)
	b = billing.AppendJSONString(b, gr.cycle)
	b = append(b, `,"periodFrom":`...)
	b = appendDate(b, gr.from)
	b = append(b, `,"periodTo":`...)
	b = appendDate(b, gr.to)
	b = append(b, `,"quantity":`...)
	b = appendFx(b, pl.qty)
	b = append(b, `,"listPrice":`...)
	b = appendFx(b, pl.list)
	b = append(b, `,"netPrice":`...)
	b = appendFx(b, pl.net)
	b = append(b, `,"netPriceProrated":`...)
	b = appendFx(b, pl.npp)
	b = append(b, `,"subTotal":`...)
	switch malform {
	case malformBadMoney:
		b = append(b, `"abc"`...)
	case malformNullMoney:
		b = append(b, "null"...)
	default:
		b = appendFx(b, pl.sub)
	}
	b = append(b, `,"currency":`...)
	b = billing.AppendJSONString(b, gr.currency)
	b = append(b, `,"isBilled":`...)
	b = appendBool(b, pl.billed)
	b = append(b, `,"isProratable":`...)
	b = appendBool(b, gr.proratable)
	b = append(b, `,"deductions":`...)
	switch pl.ded {
	case 0:
		b = append(b, "null"...)
	case 1:
		b = append(b, "[]"...)
	default:
		b = append(b, `[{"code":"PROMO-NCE10","name":"NCE launch promotion","deductionType":"PromotionalPercentage","value":10,"unitValue":`...)
		b = appendFx(b, pl.dedUnit)
		b = append(b, `,"totalValue":`...)
		b = appendFx(b, pl.dedUnit.mul(pl.qty))
		b = append(b, "}]"...)
	}
	b = append(b, `,"fees":`...)
	switch pl.fees {
	case 0:
		b = append(b, "null"...)
	case 1:
		b = append(b, "[]"...)
	default:
		b = append(b, `[{"name":"Provisioning fee","unitValue":`...)
		b = appendFx(b, pl.feeUnit)
		b = append(b, `,"totalValue":`...)
		b = appendFx(b, pl.feeUnit.mul(pl.qty))
		b = append(b, `,"isTaxable":true}]`...)
	}
	b = append(b, `,"invoice":`...)
	if pl.billed {
		b = append(b, `{"number":`...)
		b = g.appendInvoiceNumber(b, pi, gr.currency)
		b = append(b, `,"date":`...)
		b = appendDate(b, pi.invDate)
		b = append(b, `,"periodFrom":`...)
		b = appendDate(b, pi.p.From)
		b = append(b, `,"periodTo":`...)
		b = appendDate(b, pi.p.To)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"taxes":`...)
	b = appendTaxes(b, pl.taxes, gr.currency)
	b = append(b, `,"tags":`...)
	b = g.appendTags(b, gr)
	return append(b, '}')
}

// appendReceivable writes one receivable charge line as a JSON object.
func appendReceivable(b []byte, gr *group, rl *recLine) []byte {
	p := gr.prod
	b = append(b, `{"productName":`...)
	b = append(b, p.nameJSON...)
	b = append(b, `,"sku":`...)
	b = billing.AppendJSONString(b, gr.sku)
	b = append(b, `,"chargeId":"`...)
	b = rl.chargeID.append(b)
	b = append(b, `","chargeName":`...)
	b = append(b, p.chargeJSON...)
	b = append(b, `,"chargeType":`...)
	b = billing.AppendJSONString(b, gr.chargeType)
	if !rl.omitCycle {
		b = append(b, `,"billingCycleType":`...)
		b = billing.AppendJSONString(b, gr.cycle)
	}
	b = append(b, `,"periodFrom":`...)
	b = appendDate(b, gr.from)
	b = append(b, `,"periodTo":`...)
	b = appendDate(b, gr.to)
	b = append(b, `,"quantity":`...)
	b = appendFx(b, rl.qty)
	b = append(b, `,"costPrice":`...)
	b = appendFx(b, rl.cost)
	b = append(b, `,"costPriceProrated":`...)
	b = appendFx(b, rl.cpp)
	b = append(b, `,"currency":`...)
	b = billing.AppendJSONString(b, gr.currency)
	b = append(b, `,"isProratable":`...)
	b = appendBool(b, gr.proratable)
	return append(b, '}')
}

func appendPeriodOpen(b []byte, p billing.Period) []byte {
	b = append(b, `{"periodFrom":`...)
	b = appendDate(b, p.From)
	b = append(b, `,"periodTo":`...)
	b = appendDate(b, p.To)
	return append(b, `,"charges":[`...)
}

// appendCustomer writes one item of GetCustomers.
func appendCustomer(b []byte, c *customer) []byte {
	b = append(b, `{"id":`...)
	b = billing.AppendJSONString(b, c.ID)
	b = append(b, `,"displayName":`...)
	b = append(b, c.nameJSON...)
	b = append(b, `,"path":[`...)
	for i, p := range c.Path {
		if i > 0 {
			b = append(b, ',')
		}
		b = billing.AppendJSONString(b, p)
	}
	b = append(b, ']')
	switch {
	case c.suspendedWire != "":
		b = append(b, `,"suspendedOn":`...)
		b = billing.AppendJSONString(b, c.suspendedWire)
	case !c.omitSuspended:
		b = append(b, `,"suspendedOn":null`...)
	}
	return append(b, '}')
}

// appendSubscription writes one item of GetSubscriptions.
func appendSubscription(b []byte, s *subscription) []byte {
	b = append(b, `{"id":"`...)
	b = s.id.append(b)
	b = append(b, `","productName":`...)
	b = append(b, s.prod.nameJSON...)
	b = append(b, `,"description":`...)
	b = billing.AppendJSONString(b, s.prod.name+" - "+s.prod.charge)
	b = append(b, `,"sku":`...)
	b = billing.AppendJSONString(b, s.sku)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, s.quantity, 10)
	b = append(b, `,"billingCycle":`...)
	b = billing.AppendJSONString(b, s.billingCycle)
	b = append(b, `,"purchaseDate":`...)
	b = billing.AppendJSONString(b, s.purchaseDate)
	b = append(b, `,"fees":`...)
	if s.fees {
		b = append(b, `{"recurringFee":`...)
		b = appendFx(b, s.recurringFee)
		b = append(b, `,"setupFee":`...)
		b = appendFx(b, s.setupFee)
		b = append(b, `,"currency":`...)
		b = billing.AppendJSONString(b, s.feeCurrency)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"commitmentTerm":`...)
	if s.extra != nil {
		return append(appendExtraCommitment(b, s), '}')
	}
	switch s.commitment {
	case "Monthly":
		b = append(b, `{"type":"Monthly","termEndDate":`...)
		b = appendDate(b, s.termEnd)
		b = append(b, `,"renewalConfiguration":{"renewalDate":`...)
		b = appendDate(b, s.renewal)
		b = append(b, `,"scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":`...)
		b = appendDate(b, s.committedUntil)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, s.quantity, 10)
		b = append(b, `}]}`...)
	case "Annual":
		b = append(b, `{"type":"Annual","termEndDate":`...)
		b = appendDate(b, s.termEnd)
		b = append(b, `,"renewalConfiguration":null,"committedMinimalQuantities":null}`...)
	default:
		b = append(b, "null"...)
	}
	return append(b, '}')
}
