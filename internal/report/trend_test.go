package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
)

func TestTrend(t *testing.T) {
	sep := cmpRun{id: "3", period: sepPeriod, customers: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(sepPeriod, "a", "X", "1", "10", "USD")},
		rec: map[string][]billing.ReceivableCharge{"a": {cmpRecv(sepPeriod, "X", "1", "12.5", "USD")}}}.snapshot(t, false)
	oct := cmpRun{id: "4", period: octPeriod, customers: []string{"a"}, failed: []string{"a"},
		pay: []billing.PayableCharge{cmpPay(octPeriod, "a", "X", "1", "10", "USD")}}.snapshot(t, false)
	tr, err := ComputeTrend("2026-08", "2026-11", []Result{oct.Result, sep.Result})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range tr.Periods {
		got = append(got, p.Month+" "+p.Status+" "+p.RunID)
	}
	engCheck(t, "periods", got, []string{"2026-08 missing ", "2026-09 complete 3", "2026-10 incomplete 4", "2026-11 missing "})
	if len(tr.Customers) != 1 || len(tr.Customers[0].Margins) != 2 {
		t.Fatalf("customers %+v", tr.Customers)
	}
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`"month": "2026-08",` + "\n" + `      "status": "missing",` + "\n" + `      "run_id": "",` + "\n" + `      "totals": [],` + "\n" + `      "finding_counts": {}`,
		`"margin_percent": "20.00"`,
		`"finding_counts": {` + "\n" + `        "missing_receivables": 0,` + "\n" + `        "unattributed": 0,` + "\n" + `        "unbilled": 0,`,
		`"finding_counts": {` + "\n" + `        "missing_receivables": 1,`,
		`"margins": [` + "\n" + `        {` + "\n" + `          "month": "2026-09",` + "\n" + `          "margin": "2.5"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trend JSON lacks %q:\n%s", want, out)
		}
	}
	var again bytes.Buffer
	_ = tr.WriteJSON(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("trend JSON not deterministic")
	}
	for _, bad := range [][2]string{{"2026-13", "2026-12"}, {"2026-10", "2026-09"}, {"2026-10", "2026-10"}} {
		if _, err := ComputeTrend(bad[0], bad[1], []Result{sep.Result}); err == nil {
			t.Errorf("ComputeTrend(%s, %s): want an error", bad[0], bad[1])
		}
	}
	if _, err := ComputeTrend("2026-09", "2026-10", []Result{sep.Result, sep.Result}); err == nil {
		t.Error("two runs for one month: want an error")
	}
}
