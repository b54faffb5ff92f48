package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/ledger"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

type jsonRun struct {
	Mismatches []struct {
		Kind        string `json:"kind"`
		Fingerprint string `json:"fingerprint"`
		Status      string `json:"status"`
		Difference  string `json:"difference"`
	} `json:"mismatches"`
}

func readRunJSON(t *testing.T, path string) (groups map[string]decimal.Decimal, status map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonRun
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	groups, status = map[string]decimal.Decimal{}, map[string]string{}
	for _, m := range r.Mismatches {
		groups[m.Fingerprint] = groups[m.Fingerprint].Add(decimal.RequireFromString(m.Difference))
		if s, ok := status[m.Fingerprint]; ok && s != m.Status {
			t.Errorf("fingerprint %s: findings of one group with statuses %s and %s", m.Fingerprint, s, m.Status)
		}
		status[m.Fingerprint] = m.Status
	}
	return groups, status
}

// TestExceptionsAcrossPeriods is the register end to end against the
// simulator's history: accept in period 1, then see the statuses in period 2.
func TestExceptionsAcrossPeriods(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 7, Customers: 12, Charges: 120, History: true})
	dir := t.TempDir()
	db := dbtest.DB(t)
	t.Setenv("RECONCILE_DB", db)
	cli := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, want, stderr)
		}
		return stdout
	}
	j1, j2 := filepath.Join(dir, "p1.json"), filepath.Join(dir, "p2.json")
	cli(exitOK, "run", "--period", "2026-10", "--out", filepath.Join(dir, "p1.xlsx"), "--json", j1)
	cli(exitOK, "run", "--period", "2026-11", "--out", filepath.Join(dir, "p2.xlsx"), "--json", j2)
	g1, _ := readRunJSON(t, j1)
	g2, st2 := readRunJSON(t, j2)
	for fp, s := range st2 {
		if s != "open" {
			t.Fatalf("empty register: %s is %s", fp, s)
		}
	}
	var stable []string
	for fp, a1 := range g1 {
		if a2, ok := g2[fp]; ok && a2.Equal(a1) {
			stable = append(stable, fp)
		}
	}
	sort.Strings(stable)
	if len(stable) < 3 {
		t.Fatalf("the simulator history gives %d fingerprints stable across the months; want ≥ 3", len(stable))
	}
	s, x, m := stable[0], stable[1], stable[2]
	cli(exitOK, "accept", s, "--reason", "known: contract price", "--run", "1", "--by", "ana")
	cli(exitOK, "accept", x, "--reason", "until october", "--until", "2026-10", "--run", "1")
	// The simulator's history moves no finding's amount, so m's acceptance
	// is recorded as it would have been when its amount was 1.00 higher
	// (a band of 0.50): in period 2 it moved beyond the band.
	recordAcceptance(t, db, m, g1[m].Add(decimal.RequireFromString("1.00")), "0.50")

	j3 := filepath.Join(dir, "p2b.json")
	cli(exitFindings, "report", "--period", "2026-11", "--json", j3, "--fail-on-findings", "--out", dir+"/")
	_, st := readRunJSON(t, j3)
	if st[s] != "accepted" || st[m] != "reopened" || st[x] != "open" {
		t.Fatalf("period 2: stable %s, moved %s, expired %s; want accepted, reopened, open", st[s], st[m], st[x])
	}
	// Period 1 itself: s and x accepted.
	j1b := filepath.Join(dir, "p1b.json")
	cli(exitFindings, "report", "--period", "2026-10", "--json", j1b, "--fail-on-findings", "--out", dir+"/")
	if _, st := readRunJSON(t, j1b); st[s] != "accepted" || st[x] != "accepted" {
		t.Fatalf("period 1: %s %s", st[s], st[x])
	}

	// A bulk file with one bad row changes nothing.
	before := cli(exitOK, "exceptions", "--all")
	var rows []string
	for fp := range g2 {
		rows = append(rows, fp+",accepted in bulk,,")
	}
	sort.Strings(rows)
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("fingerprint,reason,until,band\n"+strings.Join(rows, "\n")+"\nffffffffffffffff,not a finding,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "accept", "--file", bad, "--run", "2")
	if code == exitOK || !strings.Contains(stderr, "ffffffffffffffff") {
		t.Fatalf("bad bulk file: exit %d: %s", code, stderr)
	}
	if after := cli(exitOK, "exceptions", "--all"); after != before {
		t.Fatalf("a failed bulk accept changed the register:\n%s\n---\n%s", before, after)
	}
	// Accept every period-2 finding: --fail-on-findings exits 0.
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(exitOK, "accept", "--file", good, "--run", "2")
	cli(exitOK, "report", "--period", "2026-11", "--fail-on-findings", "--out", filepath.Join(dir, "p2c.xlsx"))
	// Revoke the new acceptance of m: the older one (period 1's amount)
	// applies again and m is reopened: exit 4.
	id := entryOf(t, out, m)
	cli(exitOK, "unaccept", id, "--reason", "seats not explained after all")
	j4 := filepath.Join(dir, "p2d.json")
	cli(exitFindings, "report", "--period", "2026-11", "--json", j4, "--fail-on-findings", "--out", dir+"/")
	if _, st := readRunJSON(t, j4); st[m] != "reopened" {
		t.Fatalf("after unaccept of the newer acceptance, %s is %s, want reopened", m, st[m])
	}
	// Revoking every acceptance of s leaves it open.
	list := cli(exitOK, "exceptions")
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == s {
			cli(exitOK, "unaccept", f[0], "--reason", "revisit")
		}
	}
	j5 := filepath.Join(dir, "p2e.json")
	cli(exitFindings, "report", "--period", "2026-11", "--json", j5, "--fail-on-findings", "--out", dir+"/")
	if _, st := readRunJSON(t, j5); st[s] != "open" {
		t.Fatalf("after unaccept, %s is %s, want open", s, st[s])
	}
	// Revocations are entries too: nothing was deleted.
	if all := cli(exitOK, "exceptions", "--all"); !strings.Contains(all, "revokes") {
		t.Errorf("exceptions --all lists no revocation:\n%s", all)
	}
}

// recordAcceptance records an acceptance of fp from run 1 with the given
// amount and band, as `reconcile accept` does.
func recordAcceptance(t *testing.T, db, fp string, amount decimal.Decimal, band string) {
	t.Helper()
	st, err := ledger.Open(context.Background(), db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.RecordExceptions(context.Background(), []ledger.Exception{{
		Action: ledger.ActionAccept, Fingerprint: fp, Reason: "known: seats", By: "ana", CreatedAt: time.Now(),
		Amount: amount, Band: decimal.RequireFromString(band), RunID: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// entryOf finds the register entry id printed by accept for a fingerprint.
func entryOf(t *testing.T, out, fp string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var got, id string
		if n, _ := fmt.Sscanf(line, "accepted %s as entry %s", &got, &id); n == 2 && got == fp {
			return id
		}
	}
	t.Fatalf("no entry for %s in:\n%s", fp, out)
	return ""
}

// TestConcurrentAcceptCommands: two `reconcile accept` at once on one ledger
// (each opens its own connection pool, as two processes do) both land.
func TestConcurrentAcceptCommands(t *testing.T) {
	simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 60})
	dir := t.TempDir()
	t.Setenv("RECONCILE_DB", dbtest.DB(t))
	j := filepath.Join(dir, "s.json")
	if code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--out", filepath.Join(dir, "c.xlsx"), "--json", j); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	groups, _ := readRunJSON(t, j)
	var fps []string
	for fp := range groups {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	if len(fps) < 6 {
		t.Fatalf("only %d fingerprints", len(fps))
	}
	results := make(chan string, 6)
	for w := 0; w < 2; w++ {
		go func(w int) {
			for i := w; i < 6; i += 2 {
				code, _, stderr := runCLI(t, "accept", fps[i], "--reason", fmt.Sprintf("writer %d", w), "--by", "w")
				if code != exitOK {
					results <- fmt.Sprintf("accept %s: exit %d: %s", fps[i], code, stderr)
					continue
				}
				results <- ""
			}
		}(w)
	}
	for i := 0; i < 6; i++ {
		if msg := <-results; msg != "" {
			t.Error(msg)
		}
	}
	_, out, _ := runCLI(t, "exceptions")
	for _, fp := range fps[:6] {
		if !strings.Contains(out, fp) {
			t.Errorf("acceptance of %s lost:\n%s", fp, out)
		}
	}
}
