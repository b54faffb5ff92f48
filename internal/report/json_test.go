package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func engJSON(t *testing.T, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	return b.String()
}

// engGoldenResult is a small dataset with every finding kind, two currencies,
// an unnamed customer and a missing one.
func engGoldenResult() *Result {
	customers := []billing.Customer{
		{ID: "c-100", DisplayName: "Acme & Sons"},
		{ID: "c-200", DisplayName: "=1+1"},
		{ID: "c-300", DisplayName: "Gone Fishing"},
		{ID: "c-400"},
	}
	in := Input{
		RunID:     "run-2026-10-xyz",
		Period:    engPeriod,
		Customers: customers,
		Coverage: append(engAvailable("c-100", "c-200", "c-400"),
			Coverage{CustomerID: "c-300", Status: billing.CoverageFetchFailed, Error: "get receivable charges for customer c-300: status 500"}),
		PayableOK: true,
	}
	named := func(c billing.PayableCharge) billing.PayableCharge {
		c.Tags = engTags("CustomerDisplayName", " "+c.Tags[0].Value+" ")
		return c
	}
	pays := []billing.PayableCharge{
		engPay("c-100", "M365-BSTD", "10", "152.10", "USD"),
		engPayPeriod("c-100", "M365-BSTD", "2", "15.70", "USD", "2026-10-16", "2026-10-31"),
		engPay("c-100", "AZURE", "1", "99.999", "USD"),
		named(engPay("=1+1", "BACKUP", "5", "45.00", "CAD")),
		engPay("c-200", "EXCH", "3", "12.00", "CAD"),
		engPay("c-300", "M365-BSTD", "4", "60.84", "USD"),
		engPay("", "M365-BSTD", "1", "15.21", "USD"),
		engPay("c-999", "AZURE", "1", "0.50", "USD"),
	}
	recs := map[string][]billing.ReceivableCharge{
		"c-100": {
			engRecv("M365-BSTD", "10", "16.50", "USD"),
			engRecvPeriod("M365-BSTD", "2", "8.25", "USD", "2026-10-16", "2026-10-31"),
			engRecv("AZURE", "1", "95.125", "USD"),
		},
		"c-200": {
			engRecv("BACKUP", "4", "12", "CAD"),
			engRecv("SUPPORT", "1", "150.00", "CAD"),
		},
		"c-300": {engRecv("M365-BSTD", "4", "16.50", "USD")},
		"c-400": {},
	}
	return Reconcile(in, pays, recs, Options{})
}

func TestWriteJSONGolden(t *testing.T) {
	got := engJSON(t, engGoldenResult())
	path := filepath.Join("testdata", "engine", "summary.golden.json")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("JSON summary differs from %s (rerun with -update if intended):\n%s", path, got)
	}
	if !strings.HasSuffix(got, "}\n") {
		t.Errorf("JSON summary does not end with a newline")
	}
}

// TestWriteJSONContractKeys checks every key of the rules document's example,
// with its JSON type, so that a key can never be renamed or dropped.
func TestWriteJSONContractKeys(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(engJSON(t, engGoldenResult())), &doc); err != nil {
		t.Fatal(err)
	}
	requireKeys := func(where string, m any, keys map[string]string) {
		t.Helper()
		obj, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, want object", where, m)
		}
		for k, typ := range keys {
			v, ok := obj[k]
			if !ok {
				t.Errorf("%s: key %q missing", where, k)
				continue
			}
			var got string
			switch v.(type) {
			case string:
				got = "string"
			case bool:
				got = "bool"
			case float64:
				got = "number"
			case []any:
				got = "array"
			case map[string]any:
				got = "object"
			}
			if got != typ {
				t.Errorf("%s.%s is %s, want %s", where, k, got, typ)
			}
		}
	}
	requireKeys("summary", doc, map[string]string{"period": "object", "run_id": "string", "complete": "bool",
		"coverage": "object", "totals": "array", "customers": "array", "mismatches": "array"})
	requireKeys("period", doc["period"], map[string]string{"from": "string", "to": "string"})
	cov := doc["coverage"].(map[string]any)
	requireKeys("coverage", cov, map[string]string{"customers": "number", "receivables_available": "number", "receivables_missing": "array"})
	for _, m := range cov["receivables_missing"].([]any) {
		requireKeys("receivables_missing[]", m, map[string]string{"customer_id": "string", "reason": "string"})
	}
	money := map[string]string{"currency": "string", "payable": "string", "receivable": "string", "margin": "string"}
	for _, x := range doc["totals"].([]any) {
		requireKeys("totals[]", x, money)
	}
	money["customer_id"], money["customer_name"] = "string", "string"
	for _, x := range doc["customers"].([]any) {
		requireKeys("customers[]", x, money)
	}
	finding := map[string]string{}
	for _, k := range []string{"kind", "customer_id", "sku", "charge_type", "period_from", "period_to", "currency",
		"payable_quantity", "receivable_quantity", "payable_amount", "receivable_amount", "reason"} {
		finding[k] = "string"
	}
	if len(doc["mismatches"].([]any)) == 0 {
		t.Fatal("golden dataset has no mismatches")
	}
	for _, x := range doc["mismatches"].([]any) {
		requireKeys("mismatches[]", x, finding)
	}
}

func TestWriteJSONEmptyArrays(t *testing.T) {
	got := engJSON(t, Reconcile(Input{RunID: "r", Period: engPeriod, PayableOK: true}, nil, nil, Options{}))
	for _, k := range []string{"receivables_missing", "totals", "customers", "mismatches", "products"} {
		if !strings.Contains(got, `"`+k+`": []`) {
			t.Errorf("%s is not an empty array in:\n%s", k, got)
		}
	}
	if strings.Contains(got, "null") {
		t.Errorf("summary contains null:\n%s", got)
	}
	// A zero-value Result (nil slices) must render arrays too.
	got = engJSON(t, &Result{})
	if strings.Contains(got, "null") {
		t.Errorf("zero Result renders null:\n%s", got)
	}
}

func TestWriteJSONKeepsScale(t *testing.T) {
	in := Input{RunID: "r", Period: engPeriod, Customers: engCustomers("A"), Coverage: engAvailable("A"), PayableOK: true}
	r := Reconcile(in, []billing.PayableCharge{engPay("A", "S", "3", "45.00", "USD")}, nil, Options{})
	got := engJSON(t, r)
	for _, want := range []string{`"payable": "45.00"`, `"margin": "-45.00"`, `"payable_quantity": "3"`,
		`"receivable_quantity": "0"`, `"payable_amount": "45.00"`, `"receivable_amount": "0"`, `"reason": ""`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
}

// resultWithFindings is the golden result with n findings, copies of its
// first one with their own SKU and one of 1,000 customer names.
func resultWithFindings(n int) *Result {
	res := engGoldenResult()
	one := res.Mismatches[0]
	res.Mismatches = res.Mismatches[:0]
	for i := range n {
		f := one
		f.SKU = fmt.Sprintf("SKU-%05d", i)
		f.CustomerName = fmt.Sprintf("Customer %d Société", i%1000)
		res.Mismatches = append(res.Mismatches, f)
	}
	return res
}

// TestWriteJSONStreamsLikeOneEncode: the mismatches are streamed one at a
// time; the bytes must be those of encoding the whole summary at once (the
// summary read back into its struct and encoded in one piece), with HTML
// characters, non-ASCII text, acceptances and an empty mismatches array.
// countingWrites counts the Write calls it gets.
type countingWrites struct {
	bytes.Buffer
	calls int
}

func (w *countingWrites) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

// The findings are encoded one at a time, but the summary reaches its
// writer (a file) in a few large writes, not one per finding: 2,000
// findings (≈ 1.3 MB) take at most a handful of 256 KiB writes.
func TestWriteJSONWritesInLargeChunks(t *testing.T) {
	res := resultWithFindings(2000)
	var w countingWrites
	if err := res.WriteJSON(&w); err != nil {
		t.Fatal(err)
	}
	if limit := w.Len()/(256<<10) + 2; w.calls > limit {
		t.Errorf("%d bytes in %d writes, want at most %d", w.Len(), w.calls, limit)
	}
	if got := engJSON(t, res); got != w.String() {
		t.Error("a second WriteJSON wrote other bytes")
	}
}

func TestWriteJSONStreamsLikeOneEncode(t *testing.T) {
	res := engGoldenResult()
	res.Mismatches[0].Tags = "Note=<a & b> \"quoted\" é\t\u2028"
	res.ApplyExceptions([]Acceptance{{ID: 7, Fingerprint: Fingerprint(&res.Mismatches[1]), Reason: "ok <&>",
		Amount: res.Mismatches[1].Difference(), Band: engDec("0.01")}})
	if res.Mismatches[1].Acceptance == nil {
		t.Fatal("the acceptance did not apply")
	}
	empty := engGoldenResult()
	empty.Mismatches = nil
	for name, r := range map[string]*Result{"findings": res, "no findings": empty} {
		got := engJSON(t, r)
		var s jsonSummary
		if err := json.Unmarshal([]byte(got), &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "findings" && len(s.Mismatches) != len(res.Mismatches) {
			t.Fatalf("%s: %d mismatches read back, want %d", name, len(s.Mismatches), len(res.Mismatches))
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&s); err != nil {
			t.Fatal(err)
		}
		if got != want.String() {
			t.Errorf("%s: streamed summary differs from one encoding:\n%s\nwant:\n%s", name, got, want.String())
		}
	}
}
