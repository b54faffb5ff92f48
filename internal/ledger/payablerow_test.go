package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// The detail object (the rows written before 0008, and what Digest hashes)
// is valid JSON that encoding/json reads the same way, and the hand-written
// reader accepts what any JSON writer could have produced (other key order,
// whitespace, every escape).
func TestPayableDetailJSON(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := samplePayable(i)
		c.ProductName = fmt.Sprintf("name \"%d\" \\ \n\t\x01 é 日本 \U0001F600", i)
		b := appendPayableObject(nil, c)
		if !json.Valid(b) {
			t.Fatalf("line %d: detail is not valid JSON: %s", i, b)
		}
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil || generic["productName"] != c.ProductName {
			t.Fatalf("line %d: encoding/json reads productName %q (%v), want %q", i, generic["productName"], err, c.ProductName)
		}
		// Re-marshalled by encoding/json (sorted keys, other escapes), it still reads back.
		other, err := json.MarshalIndent(generic, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{string(b), string(other)} {
			got := &billing.PayableCharge{SKU: c.SKU, ChargeType: c.ChargeType, PeriodFrom: c.PeriodFrom, PeriodTo: c.PeriodTo,
				Currency: c.Currency, ChargeID: c.ChargeID, SubTotal: c.SubTotal, Quantity: c.Quantity}
			if err := payableDetail(src, got); err != nil {
				t.Fatalf("line %d: payableDetail(%s): %v", i, src, err)
			}
			for _, d := range diff(c, got) {
				t.Errorf("line %d: %s", i, d)
			}
		}
	}
}

func TestPayableDetailEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"a\"b\\c\/d"`, `a"b\c/d`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"\u00e9\u0001"`, "é\x01"},
		{`"\ud83d\ude00"`, "\U0001F600"},
		{`"\ud83d x"`, "\uFFFD x"},
		{`"日本"`, "日本"},
	}
	for _, tt := range tests {
		c := &billing.PayableCharge{}
		if err := payableDetail(`{"productName":`+tt.in+`}`, c); err != nil || c.ProductName != tt.want {
			t.Errorf("productName %s = %q (%v), want %q", tt.in, c.ProductName, err, tt.want)
		}
	}
	for _, bad := range []string{
		``, `{`, `{"productName":"x"`, `{"productName":"x",}`, `{"nope":"x"}`, `{"listPrice":"1.2.3"}`,
		`{"isBilled":yes}`, `{"productName":"\q"}`, `{"productName":"\u12"}`, `{} x`, `{"tags":[{"name":1}]}`,
		"{\"productName\":\"a\x01\"}", `[]`,
	} {
		if err := payableDetail(bad, &billing.PayableCharge{}); err == nil {
			t.Errorf("payableDetail(%q) succeeded", bad)
		}
	}
}

// The detail column holds decimals as exact JSON strings, readable in SQL by
// position (format 1, detailarray.go); a query can read both forms.
func TestPayableDetailColumn(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	id := storePayables(t, s, []*billing.PayableCharge{{ChargeID: "x", Currency: "USD", Quantity: dec("1"),
		ListPrice: dec("12.30"), Taxes: []billing.Tax{{Name: "GST", AppliedRate: dec("0.050")}}}})
	var row struct {
		Valid  int     `db:"v"`
		Format int     `db:"format"`
		List   string  `db:"list"`
		Rate   string  `db:"rate"`
		Net    *string `db:"net"`
		Ty     string  `db:"ty"`
	}
	query := `SELECT json_valid(detail) AS v, json_extract(detail, '$[0]') AS format, json_extract(detail, '$[5]') AS list,
		json_extract(detail, '$[12][0][1]') AS rate, json_extract(detail, '$[6]') AS net,
		json_type(detail, '$[5]') AS ty FROM payable_charges WHERE run_id = ?`
	if err := s.db.Get(&row, query, id); err != nil {
		t.Fatal(err)
	}
	if row.Valid != 1 || row.Format != 1 || row.List != "12.30" || row.Rate != "0.050" || row.Net != nil || row.Ty != "text" {
		t.Fatalf("detail column = %+v, want valid JSON format 1 with listPrice \"12.30\" (text), rate \"0.050\", netPrice null", row)
	}
	// The same query on the object form, branching on the form as the migration suggests.
	objectDetails(t, s, id, 1)
	var list string
	if err := s.db.Get(&list, `SELECT CASE json_type(detail) WHEN 'array' THEN json_extract(detail, '$[5]')
		ELSE json_extract(detail, '$.listPrice') END FROM payable_charges WHERE run_id = ?`, id); err != nil || list != "12.30" {
		t.Fatalf("listPrice of the object form = %q (%v), want 12.30", list, err)
	}
}

// Reset discards lines already handed to the writer goroutine, not only the
// pending chunk.
func TestPayableBatchResetDiscardsQueuedLines(t *testing.T) {
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	b := mustPayableBatch(t, s, id)
	for attempt := 0; attempt < 3; attempt++ {
		if err := b.Reset(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < payableChunk*(payableQueue+2)+7; i++ {
			if err := b.Add(samplePayable(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	want := payableChunk + 3
	for i := 0; i < want; i++ {
		if err := b.Add(samplePayable(100000 + i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
	got := readPayables(t, s, id)
	if len(got) != want {
		t.Fatalf("%d lines stored, want %d", len(got), want)
	}
	for _, c := range got {
		if !strings.HasPrefix(c.ChargeID, "charge-1") {
			t.Fatalf("line %s of a reset attempt was stored", c.ChargeID)
		}
	}
	var minNo, maxNo int
	if err := s.db.QueryRow(s.db.Rebind("SELECT MIN(line_no), MAX(line_no) FROM payable_charges WHERE run_id = ?"), id).Scan(&minNo, &maxNo); err != nil {
		t.Fatal(err)
	}
	if minNo != 1 || maxNo != want {
		t.Fatalf("line numbers %d..%d, want 1..%d", minNo, maxNo, want)
	}
}

// A write error in the writer goroutine reaches the caller (a later Add or
// Commit) and nothing is stored.
func TestPayableBatchWriteErrorIsReported(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	// A trigger makes the 300th insert fail.
	if _, err := s.db.Exec(`CREATE TRIGGER fail_300 BEFORE INSERT ON payable_charges WHEN NEW.line_no = 300
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	b := mustPayableBatch(t, s, id)
	var addErr error
	for i := 0; i < 5000 && addErr == nil; i++ {
		addErr = b.Add(samplePayable(i))
	}
	err := b.Commit(october)
	if addErr == nil && err == nil {
		t.Fatal("neither Add nor Commit reported the write error")
	}
	for _, e := range []error{addErr, err} {
		if e != nil && !strings.Contains(e.Error(), "disk on fire") {
			t.Errorf("error = %v, want the trigger's message", e)
		}
	}
	if n, _, _ := s.Counts(ctx, id); n != 0 {
		t.Fatalf("%d lines stored by a failed batch", n)
	}
	if err := s.FinishRun(ctx, id, billing.RunFailed, RunStats{}, "x", t0); err != nil {
		t.Fatalf("write lock not released: %v", err)
	}
}

// BenchmarkPayableDetail parses the detail column of a full payable line
// (nested lists, invoice, escapes): the ledger read path's parser alone, on
// the positional form new lines are stored in and on the object of the lines
// written before 0008.
func BenchmarkPayableDetail(b *testing.B) {
	c := samplePayable(5)
	c.ProductName = "Société \"Générale\" \\ 東京"
	for _, form := range []struct {
		name   string
		detail string
	}{{"array", string(appendPayableDetail(nil, c))}, {"object", string(appendPayableObject(nil, c))}} {
		b.Run(form.name, func(b *testing.B) {
			b.SetBytes(int64(len(form.detail)))
			b.ReportAllocs()
			cpu := clientCPU()
			for b.Loop() {
				var got billing.PayableCharge
				if err := payableDetail(form.detail, &got); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(clientCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkAppendPayableDetail writes the detail column of a full payable
// line, in both forms.
func BenchmarkAppendPayableDetail(b *testing.B) {
	c := samplePayable(5)
	c.ProductName = "Société \"Générale\" \\ 東京"
	for _, form := range []struct {
		name string
		fn   func([]byte, *billing.PayableCharge) []byte
	}{{"array", appendPayableDetail}, {"object", appendPayableObject}} {
		b.Run(form.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			cpu := clientCPU()
			for b.Loop() {
				buf = form.fn(buf[:0], c)
			}
			b.ReportMetric(float64(clientCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.SetBytes(int64(len(buf)))
		})
	}
}
