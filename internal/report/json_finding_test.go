package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

// encodeFindingReference is a finding as encoding/json writes it in the
// summary's mismatches array (what findingEncoder must write).
func encodeFindingReference(t *testing.T, f *jsonFinding) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// randomJSONText draws strings over what needs care in JSON: quotes,
// backslashes, every control character, DEL, HTML characters, non-ASCII
// text, U+2028 and U+2029, bytes that are not UTF-8, and plain text.
func randomJSONText(r *rand.Rand) string {
	pieces := []string{"", "a", "Contoso Ltd", "SKU-0001", "12.50", "-0.005", "\"", "\\", "\b", "\f", "\n", "\r", "\t",
		"\x00", "\x01", "\x1f", "\x7f", "<", ">", "&", "é", "Société Générale", "€", "日本", "\u2028", "\u2029",
		"\xff", "\xc3", "\xe2\x80", "😀", "Name=Value; Other=x", " ", "/", "\u00a0"}
	var b []byte
	for range r.IntN(6) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	if r.IntN(4) == 0 { // a control character anywhere
		b = append(b, byte(r.IntN(0x20)))
	}
	return string(b)
}

func TestFindingEncoderBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(20261203, 14))
	e := newFindingEncoder()
	txt := func() string { return randomJSONText(r) }
	for i := range 5000 {
		f := &jsonFinding{
			Kind: txt(), CustomerID: txt(), SKU: txt(), ChargeType: txt(),
			PeriodFrom: billing.Date(txt()), PeriodTo: billing.Date(txt()), Currency: txt(),
			PayableQuantity: txt(), ReceivableQuantity: txt(), PayableAmount: txt(), ReceivableAmount: txt(),
			Reason: txt(), CustomerName: txt(), Product: txt(), Difference: txt(), Label: txt(),
			Fingerprint: txt(), ChargeID: txt(), Invoice: txt(), Tags: txt(), Status: txt(),
		}
		switch i % 4 { // the omitempty fields: none, some, all
		case 1:
			f.AcceptanceID = r.Int64N(1 << 40)
		case 2:
			f.AcceptanceID, f.AcceptedReason, f.AcceptedAmount = -r.Int64N(100)-1, txt(), txt()
		case 3:
			f.AcceptedReason, f.AcceptedAmount = "ok", ""
		}
		want := encodeFindingReference(t, f)
		got := e.append([]byte("prefix"), f)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("finding %d:\n got %q\nwant %q", i, got[len("prefix"):], want)
		}
	}
}

// BenchmarkWriteJSONFindings: a summary with 50,000 findings (W1M has
// ≈ 50,000), written to io.Discard; per summary.
func BenchmarkWriteJSONFindings(b *testing.B) {
	res := resultWithFindings(50000)
	b.ReportAllocs()
	for b.Loop() {
		if err := res.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
