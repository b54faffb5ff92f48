package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
	"github.com/msp-reconcile/reconcile/internal/sherwebsim"
)

// TestMappingAgainstSimulator: the simulator's partner-level lines tagged
// with the old name "Legacy Holdings Ltd" are mapped to a real customer; the
// unattributed findings of that name disappear, the customer's payable grows
// by exactly their amount, and a stale entry is reported.
func TestMappingAgainstSimulator(t *testing.T) {
	sim := simEnv(t, sherwebsim.Config{Seed: 3, Customers: 8, Charges: 80})
	dir := t.TempDir()
	t.Setenv("RECONCILE_DB", dbtest.DB(t))
	target := sim.Customers()[0].ID
	type summary struct {
		Customers []struct {
			CustomerID string `json:"customer_id"`
			Currency   string `json:"currency"`
			Payable    string `json:"payable"`
		} `json:"customers"`
		Mismatches []struct {
			Kind          string `json:"kind"`
			Currency      string `json:"currency"`
			PayableAmount string `json:"payable_amount"`
			Reason        string `json:"reason"`
		} `json:"mismatches"`
		InternalUse []struct {
			Currency string `json:"currency"`
			Amount   string `json:"amount"`
		} `json:"internal_use"`
		MappingWarnings []struct {
			Value   string `json:"value"`
			Problem string `json:"problem"`
		} `json:"mapping_warnings"`
	}
	runWith := func(name, cfg string) summary {
		t.Helper()
		path := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		j := filepath.Join(dir, name+".json")
		code, _, stderr := runCLI(t, "run", "--period", "2026-10", "--config", path, "--json", j, "--out", filepath.Join(dir, name+".xlsx"))
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		b, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		var s summary
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	payOf := func(s summary, cur string) decimal.Decimal {
		for _, c := range s.Customers {
			if c.CustomerID == target && c.Currency == cur {
				return decimal.RequireFromString(c.Payable)
			}
		}
		return decimal.Zero
	}
	base := runWith("base", "")
	legacy := map[string]decimal.Decimal{} // unattributed unknown_customer amounts per currency
	for _, m := range base.Mismatches {
		if m.Kind == "unattributed" && m.Reason == "unknown_customer" {
			legacy[m.Currency] = legacy[m.Currency].Add(decimal.RequireFromString(m.PayableAmount))
		}
	}
	if len(legacy) == 0 {
		t.Fatal("the simulator planted no unknown_customer lines")
	}
	mapped := runWith("mapped", `
[[mapping]]
tag = "CustomerDisplayName"
value = "Legacy Holdings Ltd"
customer_id = "`+target+`"

[[mapping]]
tag = "CustomerDisplayName"
value = "Nobody Inc"
customer_id = "`+target+`"
`)
	if len(mapped.MappingWarnings) != 1 || mapped.MappingWarnings[0].Value != "Nobody Inc" || mapped.MappingWarnings[0].Problem != "no_match" {
		t.Errorf("mapping warnings: %+v", mapped.MappingWarnings)
	}
	moved := map[string]decimal.Decimal{}
	for cur := range legacy {
		moved[cur] = payOf(mapped, cur).Sub(payOf(base, cur))
	}
	left := map[string]decimal.Decimal{}
	for _, m := range mapped.Mismatches {
		if m.Kind == "unattributed" && m.Reason == "unknown_customer" {
			left[m.Currency] = left[m.Currency].Add(decimal.RequireFromString(m.PayableAmount))
		}
	}
	movedAny := false
	for cur, amt := range legacy {
		// What moved to the customer plus what is still unattributed (lines
		// tagged with an unknown CustomerId only) is what was unattributed.
		if !moved[cur].Add(left[cur]).Equal(amt) {
			t.Errorf("%s: moved %s + left %s, want %s", cur, moved[cur], left[cur], amt)
		}
		movedAny = movedAny || !moved[cur].IsZero()
	}
	if !movedAny {
		t.Error("the mapping moved nothing")
	}

	internal := runWith("internal", `
[[internal]]
tag = "CustomerDisplayName"
value = "Legacy Holdings Ltd"
`)
	if len(internal.InternalUse) == 0 {
		t.Fatal("no internal use")
	}
	for _, a := range internal.InternalUse {
		if a.Amount == "" || !decimal.RequireFromString(a.Amount).Equal(moved[a.Currency]) {
			t.Errorf("internal use %s %s, want %s", a.Currency, a.Amount, moved[a.Currency])
		}
	}
}
