package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// The positional fees column gives back every amount's exact text (or null)
// and every currency, including the ones encoding/json escapes.
func TestFeesArrayRoundTrip(t *testing.T) {
	amounts := []decimal.NullDecimal{{}}
	for _, s := range []string{"0", "0.00", "12.50", "-3.1", "1E+3", "123456789012345678901.25", "-0.0000001", "25", "1e-30"} {
		amounts = append(amounts, decimal.NullDecimal{Decimal: decimal.RequireFromString(s), Valid: true})
	}
	currencies := []string{"", "Usd", "CAD", "a b", "x\"y", `x\y`, "<", ">", "&", "\x00", "\t", "\x7f", "é", "\u2028", "~!@#$%^*()_+{}|:?[];',./`"}
	for _, cur := range currencies {
		for _, rf := range amounts {
			for _, sf := range amounts {
				f := &billing.SubscriptionFees{RecurringFee: rf, SetupFee: sf, Currency: cur}
				col := appendFeesArray([]byte("prefix"), f)
				if !strings.HasPrefix(string(col), "prefix[1,") || !json.Valid(col[len("prefix"):]) {
					t.Fatalf("%+v: column %q", f, col)
				}
				got, err := subscriptionFees(string(col[len("prefix"):]))
				if err != nil {
					t.Fatalf("%+v: %v", f, err)
				}
				if !sameTextPtr(got.RecurringFee, moneyText(rf)) || !sameTextPtr(got.SetupFee, moneyText(sf)) || got.Currency != cur {
					t.Errorf("%+v: read back %v %v %q", f, got.RecurringFee, got.SetupFee, got.Currency)
				}
			}
		}
	}
}

func sameTextPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Rows written before 0011 hold the fees object; it is still read.
func TestFeesObjectStillRead(t *testing.T) {
	got, err := subscriptionFees(`{"recurringFee":"5.20","setupFee":null,"currency":"Eur"}`)
	if err != nil || got.RecurringFee == nil || *got.RecurringFee != "5.20" || got.SetupFee != nil || got.Currency != "Eur" {
		t.Fatalf("%+v, %v", got, err)
	}
	for _, bad := range []string{`[2,"1","2","Usd"]`, `[1,"1","2"]`, `[1,"1","2","Usd",4]`, `[1,1,"2","Usd"]`, `[1,"1","2","Usd"] x`} {
		if _, err := subscriptionFees(bad); err == nil {
			t.Errorf("%s read without error", bad)
		}
	}
}

// commitmentSamples are commitment terms as the API may send them: the
// documented shape (stored positionally) and everything else (stored as it
// came).
var commitmentSamples = []struct {
	raw     string
	compact bool
}{
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01","scheduledQuantity":null},"committedMinimalQuantities":[{"committedUntil":"2026-10-07","quantity":4}]}`, true},
	{`{"type":"Annual","termEndDate":"2027-01-31","renewalConfiguration":null,"committedMinimalQuantities":null}`, true},
	{`{"type":"Annual","termEndDate":"2027-01-31","renewalConfiguration":{"renewalDate":"2027-02-01","scheduledQuantity":12},"committedMinimalQuantities":[]}`, true},
	{`{"type":"Triennial","termEndDate":"2029-01-31","renewalConfiguration":null,"committedMinimalQuantities":[{"committedUntil":"2026-10-07T00:00:00.0000000Z","quantity":0},{"committedUntil":"2026-10-08","quantity":10}]}`, true},
	{`{"type":"Mon\"thly\u00e9","termEndDate":null,"renewalConfiguration":{"renewalDate":null,"scheduledQuantity":1e3},"committedMinimalQuantities":[{"committedUntil":null,"quantity":-1.5}]}`, true},
	{`{"type":{"odd":[1,2]},"termEndDate":["x"],"renewalConfiguration":null,"committedMinimalQuantities":null}`, true},
	// Not the documented text: kept as it came.
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null}`, false},
	{`{"termEndDate":"2026-10-31","type":"Monthly","renewalConfiguration":null,"committedMinimalQuantities":null}`, false},
	{`{"type": "Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":null}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":null,"extra":1}`, false},
	{`{"type":"Monthly","type":"Annual","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":null}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"renewalDate":"2026-11-01"},"committedMinimalQuantities":null}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":{"scheduledQuantity":1,"renewalDate":"2026-11-01"},"committedMinimalQuantities":null}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":"soon","committedMinimalQuantities":null}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":[1,2]}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":[{"quantity":1,"committedUntil":"x"}]}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":{}}`, false},
	{`{"type":"Monthly","termEndDate":"2026-10-31","renewalConfiguration":null,"committedMinimalQuantities":null} `, false},
	{`{}`, false},
	{`null`, false},
	{`"Monthly"`, false},
	{`12`, false},
	{`[]`, false},
	{`[1,"Monthly","2026-10-31",null,null]`, false},
	{`[0,"x"]`, false},
	{` [1]`, false},
}

// Every commitment term reads back byte for byte; the documented shape is
// stored positionally (and smaller), anything else as it came (an array
// wrapped).
func TestCommitmentColumnRoundTrip(t *testing.T) {
	var tok commitmentTokens
	var scratch []byte
	for _, c := range commitmentSamples {
		var col []byte
		col, scratch = appendCommitmentColumn([]byte("prefix"), scratch, []byte(c.raw), &tok)
		stored := string(col[len("prefix"):])
		switch {
		case c.compact && (!strings.HasPrefix(stored, "[1,") || len(stored) >= len(c.raw)):
			t.Errorf("%s: stored as %s, want the positional form", c.raw, stored)
		case !c.compact && strings.HasPrefix(c.raw, "[") && stored != "[0,"+c.raw+"]":
			t.Errorf("%s: stored as %s, want it wrapped", c.raw, stored)
		case !c.compact && !strings.HasPrefix(c.raw, "[") && stored != c.raw:
			t.Errorf("%s: stored as %s, want it as it came", c.raw, stored)
		}
		if c.compact && !json.Valid([]byte(stored)) {
			t.Errorf("%s: stored %s is not JSON", c.raw, stored)
		}
		got, err := commitmentColumn(stored)
		if err != nil || string(got) != c.raw {
			t.Errorf("%s: read back %s, %v", c.raw, got, err)
		}
	}
}

// A stored column this version cannot read fails with the reason.
func TestCommitmentColumnUnknownFormat(t *testing.T) {
	for _, s := range []string{`[2,"Monthly"]`, `[1,"Monthly"]`, `[1,"a","b",null,null] x`, `[0,"x",1]`, `["x"]`} {
		if _, err := commitmentColumn(s); err == nil {
			t.Errorf("%s read without error", s)
		}
	}
}

// FuzzCommitmentColumn: any JSON value the API sends reads back byte for
// byte, whatever form it is stored in.
func FuzzCommitmentColumn(f *testing.F) {
	for _, c := range commitmentSamples {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if raw == "" || !json.Valid([]byte(raw)) {
			return
		}
		var tok commitmentTokens
		col, _ := appendCommitmentColumn(nil, nil, []byte(raw), &tok)
		got, err := commitmentColumn(string(col))
		if err != nil || string(got) != raw {
			t.Fatalf("%q stored as %q read back as %q, %v", raw, col, got, err)
		}
	})
}

// Subscriptions are stored in the positional forms and read back as the API
// sent them; a run written before 0011 (the objects, and a commitment term
// that is a JSON array as it came) reads back the same after the migration,
// with the same digest (both backends).
func TestSubscriptionsPositionalStored(t *testing.T) {
	ctx := context.Background()
	var subs []billing.Subscription
	for i, c := range commitmentSamples {
		sub := sampleSubscription(i)
		sub.CommitmentTerm = billing.RawJSON(c.raw)
		if i%3 != 2 {
			sub.Fees = &billing.SubscriptionFees{RecurringFee: dec("12.50"), SetupFee: dec("-0.10"), Currency: `Us"d`}
		}
		if i%3 == 1 {
			sub.Fees.SetupFee = decimal.NullDecimal{}
		}
		subs = append(subs, sub)
	}
	none := sampleSubscription(1) // neither fees nor a term
	none.ID = "sub-9999"
	subs = append(subs, none)
	want := SubscriptionsAsRead(nil, "cust-p", subs)

	type stored struct {
		ID   string         `db:"id"`
		Fees sql.NullString `db:"fees"`
		Term sql.NullString `db:"commitment_term"`
	}
	storedRows := func(s *Store, id int64) []stored {
		t.Helper()
		var rows []stored
		if err := s.db.Select(&rows, s.db.Rebind("SELECT id, fees, commitment_term FROM subscriptions WHERE run_id = ? ORDER BY id"), id); err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(subs) {
			t.Fatalf("%d rows stored, want %d", len(rows), len(subs))
		}
		for i, r := range rows {
			if r.ID != subs[i].ID { // ids sub-0000, sub-0001, ... sort as stored
				t.Fatalf("row %d: id %s, want %s", i, r.ID, subs[i].ID)
			}
		}
		return rows
	}

	// A ledger before 0011, its rows as that version wrote them.
	path := dbtest.DB(t)
	old := mustOpenPath(t, path, Options{migrateThrough: "0010_payable_customer_order.sql"})
	oldID := mustBeginRun(t, old)
	saveCustomerWithData(t, old, oldID, "cust-p", billing.CoverageAvailable, nil, subs)
	for _, sub := range subs {
		var fees, term any
		if sub.Fees != nil {
			f, err := jsonColumn(false, jsonSubscriptionFees{RecurringFee: moneyText(sub.Fees.RecurringFee),
				SetupFee: moneyText(sub.Fees.SetupFee), Currency: sub.Fees.Currency})
			if err != nil {
				t.Fatal(err)
			}
			fees = f
		}
		if len(sub.CommitmentTerm) > 0 {
			term = string(sub.CommitmentTerm)
		}
		if _, err := old.db.Exec(old.db.Rebind("UPDATE subscriptions SET fees = ?, commitment_term = ? WHERE run_id = ? AND id = ?"),
			fees, term, oldID, sub.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpenPath(t, path, Options{}) // migrates through 0011
	id := mustBeginRun(t, s)
	saveCustomerWithData(t, s, id, "cust-p", billing.CoverageAvailable, nil, subs)
	for i, r := range storedRows(s, id) {
		sub := &subs[i]
		if r.Fees.Valid != (sub.Fees != nil) || r.Fees.Valid && !strings.HasPrefix(r.Fees.String, "[1,") {
			t.Errorf("%s: fees stored as %v", r.ID, r.Fees)
		}
		if r.Term.Valid != (len(sub.CommitmentTerm) > 0) {
			t.Errorf("%s: commitment term stored as %v", r.ID, r.Term)
		}
		if i < len(commitmentSamples) && commitmentSamples[i].compact != strings.HasPrefix(r.Term.String, "[1,") {
			t.Errorf("%s: commitment term %s stored as %s", r.ID, sub.CommitmentTerm, r.Term.String)
		}
	}
	for i, r := range storedRows(s, oldID) {
		if raw := string(subs[i].CommitmentTerm); strings.HasPrefix(raw, "[") && r.Term.String != "[0,"+raw+"]" {
			t.Errorf("%s: the migration left the array term %s as %s", r.ID, raw, r.Term.String)
		}
	}
	var digests [2]string
	for i, run := range []int64{oldID, id} {
		var err error
		if digests[i], err = s.Digest(ctx, run); err != nil {
			t.Fatal(err)
		}
		got, err := s.Subscriptions(ctx, run, "cust-p")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("run %d read back:\n%+v\nwant\n%+v", run, got, want)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("digest %s of the run written before 0011, %s of the same data after", digests[0], digests[1])
	}
}

// moneyText is d's stored text (nil for null), as the fees object of the
// rows written before 0011 held it.
func moneyText(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := string(appendDecimal(nil, d.Decimal))
	return &s
}
