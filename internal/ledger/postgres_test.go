package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

func TestBackendFromTarget(t *testing.T) {
	for _, tt := range []struct {
		target, path string
		pg           bool
	}{
		{"ledger.db", "ledger.db", false},
		{"sqlite:old.db", "old.db", false},
		{"sqlite:///var/x.db", "/var/x.db", false},
		{"postgres://u:secret@db/ledger", "", true},
		{"postgresql://db/ledger?sslmode=require", "", true},
	} {
		if got := IsPostgres(tt.target); got != tt.pg {
			t.Errorf("IsPostgres(%q) = %v", tt.target, got)
		}
		if p, ok := SQLitePath(tt.target); ok == tt.pg || p != tt.path {
			t.Errorf("SQLitePath(%q) = %q, %v", tt.target, p, ok)
		}
	}
	for _, u := range []string{"postgres://u:secret@db/ledger", "postgres://u@db/ledger?password=secret&sslmode=disable"} {
		if r := Redact(u); strings.Contains(r, "secret") || !strings.Contains(r, "db/ledger") {
			t.Errorf("Redact(%q) = %q", u, r)
		}
	}
	_, err := Open(context.Background(), "postgres://u:secret@[::1/x", Options{})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(bad URL) = %v: want an error without the password", err)
	}
}

// Money on PostgreSQL is NUMERIC, and reads back with the scale it was sent
// with ('45.00' stays '45.00').
func TestMoneyColumnsArePostgresNumeric(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	var pay []*billing.PayableCharge
	for i := range 16 {
		pay = append(pay, samplePayable(i))
	}
	id := storePayables(t, s, pay)
	var ty string
	if err := s.db.GetContext(ctx, &ty, "SELECT DISTINCT pg_typeof(sub_total)::text FROM payable_charges"); err != nil || ty != "numeric" {
		t.Fatalf("sub_total type %q, %v; want numeric", ty, err)
	}
	got := readPayables(t, s, id)
	seen := map[string]bool{}
	for _, c := range got {
		if c.SubTotal.Valid {
			seen[billing.Text(c.SubTotal.Decimal)] = true
		}
	}
	for _, want := range scales {
		if !seen[want] {
			t.Errorf("sub_total %q did not read back with its scale (read %v)", want, seen)
		}
	}
}

// canonicalOrderPayables differ only in sub_total and quantity, whose text
// order (the canonical order) differs from their numeric order.
func canonicalOrderPayables() []*billing.PayableCharge {
	var out []*billing.PayableCharge
	for i, v := range []string{"9.00", "10.00", "", "-1", "45", "45.00", "100", "0.5"} {
		c := samplePayable(0)
		c.SubTotal = decimal.NullDecimal{}
		if v != "" {
			c.SubTotal = dec(v)
		}
		c.Quantity = dec([]string{"2", "10"}[i%2])
		if i == 3 {
			c.Quantity = decimal.NullDecimal{}
		}
		out = append(out, c)
	}
	return out
}

// The canonical read order is SQLite's byte order of the stored text on both
// backends (NULL first), so EachPayable and the digest agree.
func TestCanonicalOrderOfMoney(t *testing.T) {
	s := MustOpen(t)
	id := storePayables(t, s, canonicalOrderPayables())
	var got []string
	for _, c := range readPayables(t, s, id) {
		txt := "NULL"
		if c.SubTotal.Valid {
			txt = billing.Text(c.SubTotal.Decimal)
		}
		got = append(got, txt)
	}
	want := "NULL,-1,0.5,10.00,100,45,45.00,9.00"
	if strings.Join(got, ",") != want {
		t.Fatalf("order %s, want %s", strings.Join(got, ","), want)
	}
}

// The digest of the same run is identical on SQLite and PostgreSQL.
func TestDigestSameOnBothBackends(t *testing.T) {
	dbtest.PostgresOnly(t)
	ctx := context.Background()
	lite := mustOpenPath(t, dbtest.SQLiteDB(t), Options{})
	pg := MustOpen(t)
	for seed := range uint64(3) {
		a, b := storeRun(t, lite, seed, nil), storeRun(t, pg, seed, nil)
		da := mustDigest(t, lite, a)
		db := mustDigest(t, pg, b)
		if da != db {
			t.Fatalf("seed %d: digest %s on SQLite, %s on PostgreSQL", seed, da, db)
		}
	}
	a, b := storePayables(t, lite, canonicalOrderPayables()), storePayables(t, pg, canonicalOrderPayables())
	da, _ := lite.Digest(ctx, a)
	db, _ := pg.Digest(ctx, b)
	if da != db || da == "" {
		t.Fatalf("money order: digest %s on SQLite, %s on PostgreSQL", da, db)
	}
}

// ledger copy moves every run between backends, both ways, verified by the
// digest of every run; the copy goes on with new run ids after the copied
// ones, and refuses a destination that has runs.
func TestCopyLedgerBetweenBackends(t *testing.T) {
	ctx := context.Background()
	src := mustOpenPath(t, dbtest.SQLiteDB(t), Options{})
	var ids []int64
	for seed := range uint64(3) {
		ids = append(ids, storeRun(t, src, seed, nil))
	}
	running := mustBeginRun(t, src) // a run still running is copied as it is
	ids = append(ids, running)
	if err := src.PutRunSummary(ctx, RunSummary{RunID: ids[0], Tolerance: "0.01", Findings: 2,
		Totals: []SummaryTotal{{Currency: "USD", Payable: "45.00", Receivable: "40.10", Margin: "-4.90"}}}, t0); err != nil {
		t.Fatal(err)
	}
	mid := MustOpen(t) // the backend of this pass
	rep, err := CopyLedger(ctx, src, mid)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 4 || rep.Tables["payable_charges"] != 3*120 || rep.Tables["run_summaries"] != 1 {
		t.Fatalf("copy report %+v", rep)
	}
	back := mustOpenPath(t, dbtest.SQLiteDB(t), Options{})
	if _, err := CopyLedger(ctx, mid, back); err != nil {
		t.Fatalf("copy back: %v", err)
	}
	for _, id := range ids {
		a, _ := src.Digest(ctx, id)
		b, _ := back.Digest(ctx, id)
		if a != b || a == "" {
			t.Fatalf("run %d: digest %s before the round trip, %s after", id, a, b)
		}
	}
	if next := mustBeginRun(t, mid); next != running+1 {
		t.Fatalf("next run id after the copy = %d, want %d", next, running+1)
	}
	if _, err := CopyLedger(ctx, src, mid); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("copy into a ledger with runs = %v, want a refusal", err)
	}
}

// A read-only PostgreSQL store: reads work, writes fail in the store and in
// the server (default_transaction_read_only), and a database that is not a
// ledger is refused.
func TestReadOnlyOpenPostgres(t *testing.T) {
	dbtest.PostgresOnly(t)
	ctx := context.Background()
	if _, err := Open(ctx, dbtest.NewDatabase(t), Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not a reconcile ledger") {
		t.Fatalf("Open(empty database, ReadOnly) = %v, want 'not a reconcile ledger'", err)
	}
	url := dbtest.NewDatabase(t)
	w := mustOpenPath(t, url, Options{})
	id := storePayables(t, w, []*billing.PayableCharge{samplePayable(1)})
	r := mustOpenPath(t, url, Options{ReadOnly: true})
	if n, _, err := r.Counts(ctx, id); err != nil || n != 1 {
		t.Fatalf("read-only Counts = %d, %v", n, err)
	}
	if _, err := r.BeginRun(ctx, Run{RequestedDate: "2026-10-01"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("BeginRun on a read-only store = %v, want ErrReadOnly", err)
	}
	if _, err := r.db.Exec("INSERT INTO schema_migrations (name, applied_at) VALUES ('x', '')"); err == nil {
		t.Errorf("a write through a read-only session succeeded")
	}
}
