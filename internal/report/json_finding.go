package report

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// findingEncoder writes the summary's mismatches (jsonFinding) one at a
// time, by hand: the bytes encoding/json's Encoder writes with
// SetIndent("    ", "  ") and SetEscapeHTML(false) (an element of an array
// of the top-level object), without its final newline. At W1M the
// mismatches are ≈ 35 MB of the 46 MB summary; encoding/json marshalled
// each one and then indented it (two passes and a reflection walk).
// TestFindingEncoderBytes compares the two byte for byte.
type findingEncoder struct {
	// text is encoding/json's encoding of one string, for the strings
	// that need more than quotes (escapes, non-UTF-8 bytes, U+2028/9).
	text    bytes.Buffer
	textEnc *json.Encoder
}

func newFindingEncoder() *findingEncoder {
	e := &findingEncoder{}
	e.textEnc = json.NewEncoder(&e.text)
	e.textEnc.SetEscapeHTML(false)
	return e
}

// findingKey starts a key of the finding object: a new line at the object's
// indent, the key and the colon.
func findingKey(b []byte, key string) []byte {
	b = append(b, "\n      \""...)
	b = append(b, key...)
	return append(b, "\": "...)
}

// str appends s as encoding/json writes a string (SetEscapeHTML(false)).
func (e *findingEncoder) str(b []byte, s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' {
			return e.slow(b, s)
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && (!utf8.ValidString(s) || strings.ContainsRune(s, '\u2028') || strings.ContainsRune(s, '\u2029')) {
		return e.slow(b, s)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// slow is str through encoding/json itself.
func (e *findingEncoder) slow(b []byte, s string) []byte {
	e.text.Reset()
	if err := e.textEnc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return append(b, bytes.TrimSuffix(e.text.Bytes(), []byte("\n"))...)
}

// append appends f's encoding.
func (e *findingEncoder) append(b []byte, f *jsonFinding) []byte {
	b = append(b, '{')
	for _, kv := range [...]struct{ k, v string }{
		{"kind", f.Kind}, {"customer_id", f.CustomerID}, {"sku", f.SKU}, {"charge_type", f.ChargeType},
		{"period_from", string(f.PeriodFrom)}, {"period_to", string(f.PeriodTo)}, {"currency", f.Currency},
		{"payable_quantity", f.PayableQuantity}, {"receivable_quantity", f.ReceivableQuantity},
		{"payable_amount", f.PayableAmount}, {"receivable_amount", f.ReceivableAmount}, {"reason", f.Reason},
		{"customer_name", f.CustomerName}, {"product", f.Product}, {"difference", f.Difference},
		{"label", f.Label}, {"fingerprint", f.Fingerprint}, {"charge_id", f.ChargeID}, {"invoice", f.Invoice},
		{"tags", f.Tags}, {"status", f.Status},
	} {
		if kv.k != "kind" {
			b = append(b, ',')
		}
		b = e.str(findingKey(b, kv.k), kv.v)
	}
	// omitempty
	if f.AcceptanceID != 0 {
		b = strconv.AppendInt(findingKey(append(b, ','), "acceptance_id"), f.AcceptanceID, 10)
	}
	if f.AcceptedReason != "" {
		b = e.str(findingKey(append(b, ','), "accepted_reason"), f.AcceptedReason)
	}
	if f.AcceptedAmount != "" {
		b = e.str(findingKey(append(b, ','), "accepted_amount"), f.AcceptedAmount)
	}
	return append(b, "\n    }"...)
}
