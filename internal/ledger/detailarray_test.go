package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// payableKeyOnly returns a charge holding only c's fields that are columns,
// not detail (what the reader has before it parses the detail column).
func payableKeyOnly(c *billing.PayableCharge) *billing.PayableCharge {
	return &billing.PayableCharge{SKU: c.SKU, ChargeType: c.ChargeType, PeriodFrom: c.PeriodFrom, PeriodTo: c.PeriodTo,
		Currency: c.Currency, ChargeID: c.ChargeID, SubTotal: c.SubTotal, Quantity: c.Quantity}
}

// The positional detail is a valid JSON array of 15 elements, led by the
// format number, that encoding/json reads the same way; the reader accepts
// it with any whitespace, and it is much shorter than the object.
func TestPayableDetailArray(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := samplePayable(i)
		c.ProductName = fmt.Sprintf("name \"%d\" \\ \n\t\x01 é 日本 \U0001F600", i)
		b := appendPayableDetail(nil, c)
		if !json.Valid(b) || b[0] != '[' {
			t.Fatalf("line %d: detail is not a JSON array: %s", i, b)
		}
		var generic []any
		if err := json.Unmarshal(b, &generic); err != nil || len(generic) != 15 || generic[0] != 1.0 || generic[2] != c.ProductName {
			t.Fatalf("line %d: encoding/json reads %v (%v), want 15 elements, format 1, productName %q", i, generic, err, c.ProductName)
		}
		if c.ListPrice.Valid && generic[5] != billing.Text(c.ListPrice.Decimal) {
			t.Fatalf("line %d: $[5] = %#v, want the listPrice text %q", i, generic[5], billing.Text(c.ListPrice.Decimal))
		}
		other, err := json.MarshalIndent(generic, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{string(b), string(other), " \n" + string(b) + "\t"} {
			got := payableKeyOnly(c)
			if err := payableDetail(src, got); err != nil {
				t.Fatalf("line %d: payableDetail(%s): %v", i, src, err)
			}
			for _, d := range diff(c, got) {
				t.Errorf("line %d: %s", i, d)
			}
		}
		if obj := appendPayableObject(nil, c); len(b) > len(obj)*3/5 {
			t.Errorf("line %d: array %d bytes, object %d: the array should save the key names", i, len(b), len(obj))
		}
	}
}

// A positional detail that is not exactly format 1 with every element of
// the right type is an error, never a partly read line.
func TestPayableDetailArrayRejects(t *testing.T) {
	good := string(appendPayableDetail(nil, samplePayable(5)))
	if err := payableDetail(good, &billing.PayableCharge{}); err != nil {
		t.Fatalf("good detail %s: %v", good, err)
	}
	for _, bad := range []string{
		`[]`, `[1]`, `[1,`, `[2` + good[2:], `["1"` + good[2:], `[1.0` + good[2:], `[01` + good[2:],
		good[:len(good)-1],         // unterminated
		good[:len(good)-1] + `,1]`, // one element too many
		good + ` x`,                // data after the value
		strings.Replace(good, `"0.05000"`, `0.05`, 1),            // a decimal as a number
		strings.Replace(good, `"0.05000"`, `"0.0.5"`, 1),         // not a decimal
		strings.Replace(good, `["GST","0.05000"]`, `["GST"]`, 1), // tuple too short
		strings.Replace(good, `["GST","0.05000"]`, `["GST","0.05000",null]`, 1),
		strings.Replace(good, `true`, `1`, 1), // a boolean as a number
		strings.Replace(good, `[["D1"`, `[{"code":"D1"}`, 1),
		`[1,"p","n","c","b",null,null,null,null,null,null,null,null,null]`,           // 14 elements
		`[1,"p","n","c","b",null,null,null,null,null,null,null,null,null,null,null]`, // 16 elements
	} {
		if err := payableDetail(bad, &billing.PayableCharge{}); err == nil {
			t.Errorf("payableDetail(%s) succeeded", bad)
		}
	}
	if err := payableDetail(`[2,"p"]`, &billing.PayableCharge{}); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Errorf("unknown format: error %v, want one naming format 2", err)
	}
	// The shortest valid detail: every field null or empty.
	var got billing.PayableCharge
	if err := payableDetail(`[1,"","","","",null,null,null,null,null,null,null,null,null,null]`, &got); err != nil {
		t.Fatal(err)
	}
	for _, d := range diff(billing.PayableCharge{}, got) {
		t.Error(d)
	}
}

func TestReceivableDetailArray(t *testing.T) {
	for i := 0; i < 8; i++ {
		c := sampleReceivable(i)
		c.ChargeName = fmt.Sprintf("name \"%d\" \\ \n\t\x01 é 日本 \U0001F600", i)
		b := appendReceivableDetail(nil, &c)
		var generic []any
		if err := json.Unmarshal(b, &generic); err != nil || len(generic) != 5 || generic[0] != 1.0 || generic[2] != c.ChargeName {
			t.Fatalf("line %d: encoding/json reads %s as %v (%v)", i, b, generic, err)
		}
		other, err := json.MarshalIndent(generic, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{string(b), string(other)} {
			got := c
			got.ProductName, got.ChargeName, got.BillingCycleType, got.IsProratable = "x", "x", "x", ptr(true)
			if err := receivableDetail(src, &got); err != nil {
				t.Fatalf("line %d: receivableDetail(%s): %v", i, src, err)
			}
			for _, d := range diff(c, got) {
				t.Errorf("line %d: %s", i, d)
			}
		}
	}
	for _, bad := range []string{`[]`, `[1]`, `[1,"p","c","b"]`, `[1,"p","c","b",null,null]`, `[2,"p","c","b",null]`,
		`[1,"p","c",null,null]`, `[1,"p","c","b",1]`, `[1,"p","c","b",null] x`} {
		if err := receivableDetail(bad, &billing.ReceivableCharge{}); err == nil {
			t.Errorf("receivableDetail(%s) succeeded", bad)
		}
	}
}

// fuzzPayable builds a payable charge from fuzz inputs: s and u in every
// string field, the decimal lit (or null) in every money field, shape
// choosing null, [] or one element for each list and null/true/false for
// each boolean.
func fuzzPayable(s, u, lit string, shape uint16) *billing.PayableCharge {
	var m decimal.NullDecimal
	if d, err := decimal.NewFromString(lit); err == nil && d.Exponent() > -1000 && d.Exponent() < 1000 {
		m = decimal.NullDecimal{Decimal: d, Valid: true}
	}
	boolOf := func(k uint16) *bool {
		switch k % 3 {
		case 1:
			return ptr(true)
		case 2:
			return ptr(false)
		}
		return nil
	}
	c := &billing.PayableCharge{ProductID: s, ProductName: u, ChargeName: s + u, BillingCycleType: u,
		ListPrice: m, NetPrice: m, NetPriceProrated: m, IsBilled: boolOf(shape), IsProratable: boolOf(shape / 3)}
	shape /= 9
	switch shape % 3 {
	case 1:
		c.Deductions = []billing.Deduction{}
	case 2:
		c.Deductions = []billing.Deduction{{Code: s, Name: u, DeductionType: s, Value: m, UnitValue: m, TotalValue: m}, {}}
	}
	shape /= 3
	switch shape % 3 {
	case 1:
		c.Fees = []billing.Fee{}
	case 2:
		c.Fees = []billing.Fee{{Name: u, UnitValue: m, TotalValue: m, IsTaxable: boolOf(shape)}}
	}
	shape /= 3
	switch shape % 3 {
	case 1:
		c.Taxes = []billing.Tax{}
	case 2:
		c.Taxes = []billing.Tax{{Name: s, AppliedRate: m}, {Name: u}}
	}
	shape /= 3
	switch shape % 3 {
	case 1:
		c.Tags = []billing.Tag{}
	case 2:
		c.Tags = []billing.Tag{{Name: s, Value: u}}
	}
	shape /= 3
	if shape%2 == 1 {
		c.Invoice = &billing.Invoice{Number: s, Date: billing.Date(u), PeriodFrom: billing.Date(s), PeriodTo: billing.Date(u)}
	}
	return c
}

// FuzzDetailRoundTrip: any charge survives the positional detail exactly
// (strings byte for byte, decimals with their text, null vs [] vs a list,
// null vs false), the old object likewise, and the object Digest hashes is
// the same before and after the round trip.
func FuzzDetailRoundTrip(f *testing.F) {
	for i, lit := range []string{"1843.275", "-12.00", "0", "-0.0", "1e3", "1.5E-7", ".5", "x", "",
		"123456789012345678901234567890.123456789", "0.000000000000000000000000001"} {
		f.Add("prod-1", "Société \"Générale\" \\ 東京 \x01\n", lit, uint16(i*97))
	}
	f.Add("", "", "", uint16(0))
	f.Add("\xff\xfe", "[1,\"]\"", "null", uint16(65535))
	f.Fuzz(func(t *testing.T, s, u, lit string, shape uint16) {
		c := fuzzPayable(s, u, lit, shape)
		obj := appendPayableObject(nil, c)
		for _, form := range [][]byte{appendPayableDetail(nil, c), obj} {
			got := &billing.PayableCharge{}
			if err := payableDetail(string(form), got); err != nil {
				t.Fatalf("payableDetail(%s): %v", form, err)
			}
			for _, d := range diff(c, got) {
				t.Errorf("%s: %s", form, d)
			}
			if again := appendPayableObject(nil, got); !bytes.Equal(again, obj) {
				t.Errorf("hashed object after reading %s:\n%s\nwant\n%s", form, again, obj)
			}
		}
		r := billing.ReceivableCharge{ProductName: s, ChargeName: u, BillingCycleType: s + u, IsProratable: c.IsBilled}
		for _, form := range [][]byte{appendReceivableDetail(nil, &r), appendReceivableObject(nil, &r)} {
			var got billing.ReceivableCharge
			if err := receivableDetail(string(form), &got); err != nil {
				t.Fatalf("receivableDetail(%s): %v", form, err)
			}
			for _, d := range diff(r, got) {
				t.Errorf("%s: %s", form, d)
			}
		}
	})
}

// FuzzDetailReader: the reader never panics on any text, and what it
// accepts it reads back the same from the positional detail it would write.
func FuzzDetailReader(f *testing.F) {
	f.Add(string(appendPayableDetail(nil, samplePayable(5))))
	f.Add(string(appendPayableObject(nil, samplePayable(5))))
	f.Add(`[1,"","","","",null,null,null,null,null,[],[],[],[],null]`)
	f.Add(`[1,"a\u00e9\ud83d","","","","1.0",null,null,true,false,[["","","",null,null,null]],[["",null,null,null]],[["",null]],[["",""]],["","","",""]]`)
	f.Fuzz(func(t *testing.T, in string) {
		var c billing.PayableCharge
		if err := payableDetail(in, &c); err != nil {
			return
		}
		again := appendPayableDetail(nil, &c)
		var back billing.PayableCharge
		if err := payableDetail(string(again), &back); err != nil {
			t.Fatalf("payableDetail(%s), written from %q: %v", again, in, err)
		}
		for _, d := range diff(c, back) {
			t.Errorf("%q: %s", in, d)
		}
	})
}

// objectDetails rewrites the detail column of every charge line of run id
// into the object form of the rows written before migration 0008 (the bytes
// the old writer produced: appendPayableObject and appendReceivableObject
// are that writer, renamed), so a test holds a ledger as an older version
// left it. It checks that each line was in the positional form before.
func objectDetails(t *testing.T, s *Store, id int64, every int) {
	t.Helper()
	type row struct {
		Key    string `db:"k"`
		LineNo int64  `db:"line_no"`
		Detail string `db:"detail"`
	}
	for _, table := range []string{"payable_charges", "receivable_charges"} {
		key, where := "''", " WHERE run_id = ? AND line_no = ?"
		if table == "receivable_charges" {
			key, where = "customer_id", " WHERE run_id = ? AND line_no = ? AND customer_id = ?"
		}
		var rows []row
		if err := s.db.Select(&rows, s.db.Rebind("SELECT "+key+" AS k, line_no, detail FROM "+table+" WHERE run_id = ? ORDER BY k, line_no"), id); err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 && table == "payable_charges" {
			t.Fatalf("run %d has no %s", id, table)
		}
		for i, r := range rows {
			if r.Detail[0] != '[' {
				t.Fatalf("%s run %d line %d: detail %s is not the positional form", table, id, r.LineNo, r.Detail)
			}
			if i%every != 0 {
				continue
			}
			var obj []byte
			args := []any{id, r.LineNo}
			if table == "payable_charges" {
				var c billing.PayableCharge
				if err := payableDetail(r.Detail, &c); err != nil {
					t.Fatal(err)
				}
				obj = appendPayableObject(nil, &c)
			} else {
				var c billing.ReceivableCharge
				if err := receivableDetail(r.Detail, &c); err != nil {
					t.Fatal(err)
				}
				obj = appendReceivableObject(nil, &c)
				args = append(args, r.Key)
			}
			if _, err := s.db.Exec(s.db.Rebind("UPDATE "+table+" SET detail = ?"+where), append([]any{string(obj)}, args...)...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// detailForms counts the lines of run id whose detail is an object and an array.
func detailForms(t *testing.T, s *Store, id int64) (objects, arrays int) {
	t.Helper()
	for _, table := range []string{"payable_charges", "receivable_charges"} {
		var details []string
		if err := s.db.Select(&details, s.db.Rebind("SELECT detail FROM "+table+" WHERE run_id = ?"), id); err != nil {
			t.Fatal(err)
		}
		for _, d := range details {
			switch d[0] {
			case '{':
				objects++
			case '[':
				arrays++
			default:
				t.Fatalf("%s: detail %s", table, d)
			}
		}
	}
	return objects, arrays
}

// A ledger whose lines hold the object detail of the rows written before
// 0008 (all of them, or every other line) reads back the same lines in the
// same order with the same digest, and `ledger copy` moves such a ledger
// between backends keeping each line's stored form, verified by the digest.
func TestOldDetailRowsReadIdentically(t *testing.T) {
	ctx := context.Background()
	src := mustOpenPath(t, dbtest.SQLiteDB(t), Options{})
	var ids []int64
	want := map[int64]runContent{}
	for _, every := range []int{1, 2} {
		id := storeRun(t, src, uint64(every), nil)
		want[id] = readRun(t, src, id)
		objectDetails(t, src, id, every)
		objects, arrays := detailForms(t, src, id)
		if objects == 0 || (every == 1) != (arrays == 0) {
			t.Fatalf("run %d: %d object and %d array details after rewriting every %d", id, objects, arrays, every)
		}
		ids = append(ids, id)
	}
	check := func(s *Store, what string) {
		t.Helper()
		for _, id := range ids {
			got := readRun(t, s, id)
			if got.digest != want[id].digest {
				t.Errorf("%s run %d: digest %s, %s with positional details", what, id, got.digest, want[id].digest)
			}
			for _, d := range diff(want[id].payables, got.payables) {
				t.Errorf("%s run %d payables: %s", what, id, d)
			}
			for _, d := range diff(want[id].receivables, got.receivables) {
				t.Errorf("%s run %d receivable customers: %s", what, id, d)
			}
			for _, d := range diff(want[id].charges, got.charges) {
				t.Errorf("%s run %d receivables: %s", what, id, d)
			}
		}
	}
	check(src, "SQLite")

	dst := MustOpen(t) // the backend of this pass
	if _, err := CopyLedger(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	check(dst, dst.Backend()+" copy")
	for _, table := range []string{"payable_charges", "receivable_charges"} {
		q := "SELECT detail FROM " + table + " ORDER BY run_id, line_no, detail"
		var a, b []string
		if err := src.db.Select(&a, q); err != nil {
			t.Fatal(err)
		}
		if err := dst.db.Select(&b, q); err != nil {
			t.Fatal(err)
		}
		for _, d := range diff(a, b) {
			t.Errorf("%s: details after the copy: %s", table, d)
		}
	}
}

// A detail column exactly as the 0001–0006 writer stored it (bytes taken
// from a ledger written by the previous version) reads as it did.
func TestOldDetailBytes(t *testing.T) {
	old := `{"productId":"3f795262-3267-49d1-8b78-4e1ab31364cd","productName":"Acronis Cyber Protect Cloud – Standard",` +
		`"chargeName":"Per workload","billingCycleType":"Monthly","listPrice":"7.55","netPrice":"7.55","netPriceProrated":"7.55",` +
		`"isBilled":true,"isProratable":true,"deductions":[],"fees":[],"taxes":[{"name":"GST","appliedRate":"0.05"},` +
		`{"name":"QST","appliedRate":"0.09975"}],"tags":[],"invoice":{"number":"INV-6206396033","date":"2026-11-01",` +
		`"periodFrom":"2026-10-01","periodTo":"2026-10-31"}}`
	want := billing.PayableCharge{ProductID: "3f795262-3267-49d1-8b78-4e1ab31364cd",
		ProductName: "Acronis Cyber Protect Cloud – Standard", ChargeName: "Per workload", BillingCycleType: "Monthly",
		ListPrice: dec("7.55"), NetPrice: dec("7.55"), NetPriceProrated: dec("7.55"), IsBilled: ptr(true), IsProratable: ptr(true),
		Deductions: []billing.Deduction{}, Fees: []billing.Fee{},
		Taxes: []billing.Tax{{Name: "GST", AppliedRate: dec("0.05")}, {Name: "QST", AppliedRate: dec("0.09975")}},
		Tags:  []billing.Tag{}, Invoice: &billing.Invoice{Number: "INV-6206396033", Date: "2026-11-01", PeriodFrom: "2026-10-01", PeriodTo: "2026-10-31"}}
	var got billing.PayableCharge
	if err := payableDetail(old, &got); err != nil {
		t.Fatal(err)
	}
	for _, d := range diff(want, got) {
		t.Error(d)
	}
	if obj := string(appendPayableObject(nil, &got)); obj != old {
		t.Errorf("the object Digest hashes is\n%s\nwant the bytes the old writer stored\n%s", obj, old)
	}
	arr := string(appendPayableDetail(nil, &got))
	if w := `[1,"3f795262-3267-49d1-8b78-4e1ab31364cd","Acronis Cyber Protect Cloud – Standard","Per workload","Monthly",` +
		`"7.55","7.55","7.55",true,true,[],[],[["GST","0.05"],["QST","0.09975"]],[],["INV-6206396033","2026-11-01","2026-10-01","2026-10-31"]]`; arr != w {
		t.Errorf("positional detail\n%s\nwant\n%s", arr, w)
	}
	t.Logf("detail: object %d bytes, positional %d bytes", len(old), len(arr))

	oldRecv := `{"productName":"Acronis Cyber Protect Cloud – Standard","chargeName":"Per workload","billingCycleType":"Monthly","isProratable":true}`
	var r billing.ReceivableCharge
	if err := receivableDetail(oldRecv, &r); err != nil {
		t.Fatal(err)
	}
	if w := (billing.ReceivableCharge{ProductName: "Acronis Cyber Protect Cloud – Standard", ChargeName: "Per workload",
		BillingCycleType: "Monthly", IsProratable: ptr(true)}); len(diff(w, r)) > 0 {
		t.Error(diff(w, r))
	}
	if got := string(appendReceivableObject(nil, &r)); got != oldRecv {
		t.Errorf("receivable object %s, want %s", got, oldRecv)
	}
}

// The digests and content hashes of the test runs are those the previous
// version (ec54ffe, object detail) computed for the same data on both
// backends: the positional detail changed no hash, whichever form the lines
// are stored in.
func TestDigestAndContentHashGolden(t *testing.T) {
	s := MustOpen(t)
	hashes := func(id int64) []string {
		t.Helper()
		var out []string
		for _, q := range []string{"SELECT content_hash FROM payable_charges WHERE run_id = ? ORDER BY line_no",
			"SELECT content_hash FROM receivable_charges WHERE run_id = ? ORDER BY customer_id, line_no"} {
			var hs []string
			if err := s.db.Select(&hs, s.db.Rebind(q), id); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d %x", len(hs), sha256.Sum256([]byte(strings.Join(hs, ",")))))
		}
		return out
	}
	digest := func(id int64) string {
		t.Helper()
		d := mustDigest(t, s, id)
		return d
	}
	const (
		runDigest  = "589c3d8e8799f9a4950fa4409905a7795cd8ac0fe1373fee8a1a5c39ee846df7"
		tiedDigest = "32e0c70ac6723312fd574902ce649aba4930171cc9d32d4ff3d553c104ee1b92"
	)
	wantHashes := []string{"120 3c5225d74b847560718f5d18a8ec6496d6048f4ee107f0804ebbf8a0ec572f9c",
		"25 1b49b62e2137628465622fa45b195efac5f55008666695c62faa3a38bb4d367d"}
	run, tied := storeRun(t, s, 0, nil), storeTiedRun(t, s, false)
	for _, form := range []string{"positional", "object"} {
		if form == "object" {
			objectDetails(t, s, run, 1)
			objectDetails(t, s, tied, 1)
		}
		if got := digest(run); got != runDigest {
			t.Errorf("%s detail: run digest %s, want %s", form, got, runDigest)
		}
		if got := digest(tied); got != tiedDigest {
			t.Errorf("%s detail: tied run digest %s, want %s", form, got, tiedDigest)
		}
		for _, d := range diff(wantHashes, hashes(run)) {
			t.Errorf("%s detail: content hashes: %s", form, d)
		}
	}
}
