package main

import (
	"encoding/json"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/report"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
	"github.com/msp-reconcile/reconcile/internal/testkit"
)

// mailKindLabels are the finding kinds as the message words them.
const tdNum = `<td style="text-align:right;padding:4px">`

// inOrder checks that every snippet occurs in s, each after the previous.
func inOrder(t *testing.T, what, s string, snippets ...string) {
	t.Helper()
	at := 0
	for _, sn := range snippets {
		i := strings.Index(s[at:], sn)
		if i < 0 {
			t.Errorf("%s: %q missing (or out of order) after offset %d", what, sn, at)
			return
		}
		at += i + len(sn)
	}
}

// TestEmailCompareBaseAndFindingStatuses: `email --compare-base` attaches the
// comparison workbook written beside the close workbook, and the message's
// margin bridge equals the comparison JSON exactly; an accepted finding is
// counted as accepted and is not among the largest open findings.
func TestEmailCompareBaseAndFindingStatuses(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 7, Customers: 12, Charges: 120, History: true})
	dir := t.TempDir()
	db := dbtest.DB(t)
	t.Setenv("RECONCILE_DB", db)
	t.Setenv("RECONCILE_CONFIG", "")
	cli := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, want, stderr)
		}
		return stdout
	}
	book := filepath.Join(dir, "reconciliation-2026-11-01_2026-11-30.xlsx")
	j2 := filepath.Join(dir, "p2.json")
	cli(exitOK, "run", "--period", "2026-10", "--out", filepath.Join(dir, "p1.xlsx"))
	cli(exitOK, "run", "--period", "2026-11", "--out", book, "--json", j2)

	// Accept the largest finding of November.
	b, err := os.ReadFile(j2)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		Mismatches []struct {
			Kind, Fingerprint, Currency, Difference string
		} `json:"mismatches"`
	}
	if err := json.Unmarshal(b, &run); err != nil || len(run.Mismatches) < 12 {
		t.Fatalf("run JSON: %v, %d findings (want ≥ 12)", err, len(run.Mismatches))
	}
	ms := run.Mismatches
	abs := func(i int) decimal.Decimal { return decimal.RequireFromString(ms[i].Difference).Abs() }
	big := 0
	for i := range ms {
		if abs(i).GreaterThan(abs(big)) {
			big = i
		}
	}
	acceptedFP := ms[big].Fingerprint
	cli(exitOK, "accept", acceptedFP, "--reason", "explained by finance", "--run", "2")

	mp := testkit.StartMailpit(t, testkit.MailpitOptions{User: smtpUser, Password: smtpPassword})
	mailEnv(t, mp.SMTPHost, mp.SMTPPort)
	cli(exitOK, "email", "--period", "2026-11", "--out", book, "--compare-base", "2026-10")

	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("mailpit has %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	cmpName := "comparison-2026-10-01_2026-10-31-vs-2026-11-01_2026-11-30.xlsx"
	if len(m.Attachments) != 2 || m.Attachments[0].FileName != filepath.Base(book) || m.Attachments[1].FileName != cmpName {
		t.Fatalf("attachments %+v, want the close workbook and %s", m.Attachments, cmpName)
	}
	for i, p := range []string{book, filepath.Join(dir, cmpName)} {
		disk, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s beside the close workbook: %v", p, err)
		}
		if got := sha(mp.Part(t, m.ID, m.Attachments[i].PartID)); got != sha(disk) {
			t.Errorf("attachment %d sha256 %s, %s on disk %s", i, got, p, sha(disk))
		}
	}

	// The bridge in the HTML is the comparison JSON's, digit for digit.
	var cmp struct {
		Bridge []map[string]string `json:"bridge"`
	}
	out := cli(exitOK, "compare", "--base", "2026-10", "--period", "2026-11", "--out", filepath.Join(dir, "c.xlsx"), "--json", "-")
	if err := json.Unmarshal([]byte(out), &cmp); err != nil || len(cmp.Bridge) == 0 {
		t.Fatalf("compare JSON: %v (%d bridge rows)", err, len(cmp.Bridge))
	}
	steps := [][2]string{{"coverage", "Coverage"}, {"new_customers", "New customers"}, {"lost_customers", "Lost customers"},
		{"new_products", "New products"}, {"lost_products", "Lost products"}, {"volume", "Volume"}, {"rate", "Rate"}, {"unattributed", "Unattributed"}}
	if !strings.Contains(m.HTML, "Margin bridge from 2026-10</h2>") {
		t.Errorf("HTML lacks the bridge heading")
	}
	for _, br := range cmp.Bridge {
		cur := br["currency"]
		want := []string{">" + cur + " margin 2026-10</td>" + tdNum + br["start_margin"] + "</td>"}
		for _, s := range steps {
			want = append(want, `<td style="padding:4px">`+s[1]+"</td>"+tdNum+br[s[0]]+"</td>")
		}
		want = append(want, ">"+cur+" margin 2026-11</td>"+tdNum+br["end_margin"]+"</td>")
		inOrder(t, "HTML bridge "+cur, m.HTML, want...)
		text := "  " + cur + ": start " + br["start_margin"]
		for _, s := range steps {
			text += ", " + s[1] + " " + br[s[0]]
		}
		if !strings.Contains(strings.ReplaceAll(m.Text, "\r\n", "\n"), text+", end "+br["end_margin"]+"\n") {
			t.Errorf("text part lacks the %s bridge %q:\n%s", cur, text, m.Text)
		}
	}

	// Findings per kind, open / accepted.
	count, accepted := map[string]int{}, map[string]int{}
	for _, f := range ms {
		count[f.Kind]++
		if f.Fingerprint == acceptedFP {
			accepted[f.Kind]++
		}
	}
	inOrder(t, "findings header", m.HTML, ">Count</th>", ">Open</th>", ">Accepted</th>")
	for k, n := range count {
		row := ">" + html.EscapeString(report.KindLabel(k)) + "</td>" + tdNum + strconv.Itoa(n) + "</td>" + tdNum + strconv.Itoa(n-accepted[k]) + "</td>" + tdNum + strconv.Itoa(accepted[k]) + "</td>"
		if !strings.Contains(m.HTML, row) {
			t.Errorf("HTML lacks the findings row %q", row)
		}
	}
	if len(accepted) == 0 {
		t.Fatal("no finding was accepted")
	}
	// The largest open findings: the accepted ones left out.
	var open []int
	for i := range ms {
		if ms[i].Fingerprint != acceptedFP {
			open = append(open, i)
		}
	}
	sort.SliceStable(open, func(a, b int) bool { return abs(open[a]).GreaterThan(abs(open[b])) })
	i0 := strings.Index(m.HTML, "Largest open findings</h2>")
	if i0 < 0 {
		t.Fatal("HTML lacks the largest open findings")
	}
	largest := m.HTML[i0:]
	largest = largest[:strings.Index(largest, "</table>")]
	var want []string
	for _, i := range open[:min(10, len(open))] {
		want = append(want, ">"+ms[i].Currency+" "+ms[i].Difference+"</td>")
	}
	inOrder(t, "largest open findings", largest, want...)
	if got := strings.Count(largest, "<tr style=\"border-top"); got != len(want) {
		t.Errorf("largest open findings: %d rows, want %d", got, len(want))
	}
	if !abs(big).Equal(abs(open[0])) && strings.Contains(largest, ">"+ms[big].Currency+" "+ms[big].Difference+"</td>") {
		t.Errorf("the accepted finding %s %s is listed among the largest open findings", ms[big].Currency, ms[big].Difference)
	}
}
