package ledger

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// The writers' inserts reach go-sqlite3's statements (sqliterows.go): were
// go-sqlite3 to change so that they cannot, the writers would fall back to
// the driver silently, slower; this test says so.
func TestSQLiteRowsReachTheStatements(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		st, err := s.prepareCustomerStmts(ctx, dc)
		if err != nil {
			return err
		}
		defer st.close()
		if st.fastRecv == nil || st.fastSubs == nil {
			return fmt.Errorf("customer inserts through the driver (receivables %v, subscriptions %v)", st.fastRecv != nil, st.fastSubs != nil)
		}
		if st.fastRecv.multi == nil || st.fastSubs.multi == nil {
			return fmt.Errorf("customer inserts one row per statement (receivables %v, subscriptions %v)", st.fastRecv.multi != nil, st.fastSubs.multi != nil)
		}
		if _, ok := sqliteRowsFor(st.receivable, receivableCols+1); ok {
			return fmt.Errorf("a statement of %d parameters accepted for %d", receivableCols, receivableCols+1)
		}
		p, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, s.q[qInsertPayable])
		if err != nil {
			return err
		}
		defer p.Close()
		r, ok := sqliteRowsFor(p, payableCols)
		if !ok {
			return fmt.Errorf("payable insert through the driver")
		}
		defer r.free()
		if r.multi == nil {
			return fmt.Errorf("payable insert one row per statement")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sqliteRowsFor("not a statement", 1); ok {
		t.Fatal("a string accepted as a statement")
	}
}

// Rows inserted through sqliteRows are stored exactly as through the
// driver: the same values, types (NULL, integer, text) and bytes, for every
// column of receivable lines and subscriptions (NULL amounts, empty and
// non-ASCII texts, texts with NUL bytes).
func TestSQLiteRowsStoreWhatTheDriverStores(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	recs := make([]billing.ReceivableCharge, 600) // more than two batches
	for i := range recs {
		recs[i] = sampleReceivable(i)
	}
	recs[3].Quantity = decimal.NullDecimal{}
	recs[4].ProductName, recs[4].ChargeName = "", "Ünïcode — 料金"
	recs[5].ChargeID = "with\x00nul"
	subs := make([]billing.Subscription, 300)
	for i := range subs {
		subs[i] = sampleSubscription(i)
	}
	subs[7].Description = ""
	stores, ids := map[string]*Store{}, map[string]int64{}
	for _, c := range []string{"driver", "fast"} {
		s := MustOpen(t)
		id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
		if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "c"}}); err != nil {
			t.Fatal(err)
		}
		d := CustomerData{CustomerID: "c", Coverage: billing.CoverageAvailable, Period: october, Receivables: recs, Subscriptions: subs}
		err := s.customerTx(ctx, func(st *customerStmts) error {
			if c == "driver" {
				st.fastRecv.free()
				st.fastSubs.free()
				st.fastRecv, st.fastSubs = nil, nil
			} else if st.fastRecv == nil || st.fastSubs == nil {
				return fmt.Errorf("no fast path")
			}
			return s.saveCustomer(ctx, st, id, &d, nil)
		})
		if err != nil {
			t.Fatalf("save %s: %v", c, err)
		}
		stores[c], ids[c] = s, id
	}
	for _, q := range []string{
		`SELECT line_no, typeof(sku), hex(sku), hex(charge_id), hex(charge_type), hex(period_from), hex(period_to),
			typeof(quantity), hex(quantity), typeof(cost_price), hex(cost_price), typeof(cost_price_prorated),
			hex(cost_price_prorated), hex(currency), typeof(detail), hex(detail), hex(content_hash), typeof(line_no)
			FROM receivable_charges WHERE run_id = ? AND customer_id = ? ORDER BY line_no`,
		`SELECT line_no, hex(id), hex(product_name), typeof(description), hex(description), hex(sku), typeof(quantity),
			hex(quantity), hex(billing_cycle), hex(purchase_date), typeof(fees), hex(fees), typeof(commitment_term),
			hex(commitment_term), hex(content_hash)
			FROM subscriptions WHERE run_id = ? AND customer_id = ? ORDER BY line_no`,
	} {
		got := map[string][]string{}
		for _, c := range []string{"driver", "fast"} {
			rows, err := stores[c].db.QueryContext(ctx, q, ids[c], "c")
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				got[c] = append(got[c], fmt.Sprint(vals...))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
		}
		if len(got["fast"]) == 0 || len(got["fast"]) != len(got["driver"]) {
			t.Fatalf("%d rows through sqliteRows, %d through the driver", len(got["fast"]), len(got["driver"]))
		}
		for i := range got["fast"] {
			if got["fast"][i] != got["driver"][i] {
				t.Fatalf("row %d differs:\n sqliteRows %s\n driver     %s", i, got["fast"][i], got["driver"][i])
			}
		}
	}
}

// A row that fails in the middle of a batch (past the first batch) is named
// in the error with SQLite's message, and the customer is not stored at
// all; the statement stays usable for the next customer.
func TestSQLiteRowsErrorNamesTheRow(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1)})
	if err := s.SaveCustomers(ctx, id, []billing.Customer{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`CREATE TRIGGER fail_line BEFORE INSERT ON receivable_charges
		WHEN NEW.customer_id = 'a' AND NEW.charge_id = 'rcharge-000300'
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	recs := make([]billing.ReceivableCharge, 400)
	for i := range recs {
		recs[i] = sampleReceivable(i)
	}
	w := s.NewCustomerWriter(ctx, id)
	if err := w.Save(CustomerData{CustomerID: "a", Coverage: billing.CoverageAvailable, Period: october, Receivables: recs}); err != nil {
		t.Fatal(err)
	}
	err := w.Close()
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), recs[300].Describe()) {
		t.Fatalf("error = %v, want the trigger's message and line %s", err, recs[300].Describe())
	}
	if _, nRecv, _ := s.Counts(ctx, id); nRecv != 0 {
		t.Fatalf("%d receivable lines stored by a failed customer", nRecv)
	}
	if cov, err := s.Coverage(ctx, id); err != nil || len(cov) != 0 {
		t.Fatalf("coverage %v, %v: want none", cov, err)
	}
	if err := s.SaveCustomerData(ctx, id, CustomerData{CustomerID: "b", Coverage: billing.CoverageAvailable, Period: october, Receivables: recs}); err != nil {
		t.Fatal(err)
	}
	if _, nRecv, _ := s.Counts(ctx, id); nRecv != len(recs) {
		t.Fatalf("%d receivable lines stored, want %d", nRecv, len(recs))
	}
}

// Rows go in sqliteRowsMulti per statement (INSERT OR FAIL): a row that
// fails inside such a statement keeps the rows before it and is the row
// named, whatever its place; the rows of a batch that is not a multiple of
// sqliteRowsMulti end one by one; the statement stays usable.
func TestSQLiteRowsManyPerStatement(t *testing.T) {
	dbtest.SQLiteOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE rows_probe (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func() (n int) {
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rows_probe`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, bad := range []int{0, 5, 7, 8, 13, 2*sqliteRowsMulti + 3} { // 19: in the rows left over, one by one
		if _, err := conn.ExecContext(ctx, `DELETE FROM rows_probe; INSERT INTO rows_probe VALUES (?, 'there first')`, 1000+bad); err != nil {
			t.Fatal(err)
		}
		err := conn.Raw(func(dc any) error {
			p, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, `INSERT INTO rows_probe (k, v) VALUES (?, ?)`)
			if err != nil {
				return err
			}
			defer p.Close()
			r, ok := sqliteRowsFor(p, 2)
			if !ok || r.multi == nil {
				return fmt.Errorf("no statement of %d rows (%v)", sqliteRowsMulti, ok)
			}
			defer r.free()
			n := 2*sqliteRowsMulti + 4
			for i := range n {
				if err := r.add([]rowVal{{kind: valInt, i: int64(1000 + i)}, {kind: valText, s: fmt.Sprint("row ", i)}}); err != nil {
					return err
				}
			}
			failed, err := r.exec()
			if err == nil || failed != bad || !strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("row %d duplicated: failed row %d, %v; want %d and a UNIQUE failure", bad, failed, err, bad)
			}
			if got := count(); got != 1+bad {
				return fmt.Errorf("row %d duplicated: %d rows stored, want the %d before it and the first", bad, got, bad)
			}
			// Usable again: the rest, the failing row left out.
			for i := bad + 1; i < n; i++ {
				if err := r.add([]rowVal{{kind: valInt, i: int64(1000 + i)}, {kind: valText, s: "again"}}); err != nil {
					return err
				}
			}
			if failed, err := r.exec(); err != nil {
				return fmt.Errorf("row %d duplicated, the rest after it: row %d: %v", bad, failed, err)
			}
			if got := count(); got != n {
				return fmt.Errorf("row %d duplicated: %d rows in the end, want %d", bad, got, n)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
}

// multiRowInsert takes only a plain one-row INSERT of its parameters.
func TestMultiRowInsert(t *testing.T) {
	got, ok := multiRowInsert("-- name: x\n-- what it is\nINSERT INTO t (a, b)\nVALUES (?, ?);\n", 2, 3)
	if want := "INSERT OR FAIL INTO t (a, b)\nVALUES (?, ?), (?, ?), (?, ?)"; !ok || got != want {
		t.Errorf("got %q, %v; want %q", got, ok, want)
	}
	for _, q := range []string{"INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a) SELECT ?", "UPDATE t SET a = ?",
		"INSERT OR IGNORE INTO t (a) VALUES (?)", "INSERT INTO t (a) VALUES (?, 1)"} {
		if got, ok := multiRowInsert(q, 1, 3); ok {
			t.Errorf("%q taken as a one-row INSERT of 1 parameter: %q", q, got)
		}
	}
}

// The driver fallback gets the values the inserts had before rowVal: nil
// for NULL, int64 and string, numbered from 1 (the payable insert's, with
// NULL amounts, and an empty text, which stays a text).
func TestRowValsBoxedForTheDriver(t *testing.T) {
	c := samplePayable(1)
	c.SubTotal, c.Quantity = decimal.NullDecimal{}, dec("2.50")
	c.Currency = ""
	var r rowCodec
	nv := r.payableNamed(7, 9, "key", 3, c)
	want := []any{int64(7), int64(9), "key", c.SKU, c.ChargeType, string(c.PeriodFrom), string(c.PeriodTo), "", c.ChargeID, nil, "2.50"}
	if len(nv) != payableCols {
		t.Fatalf("%d values, want %d", len(nv), payableCols)
	}
	for i, w := range want {
		if nv[i].Ordinal != i+1 || nv[i].Value != w {
			t.Errorf("value %d = %d: %#v, want %d: %#v", i, nv[i].Ordinal, nv[i].Value, i+1, w)
		}
	}
	for _, i := range []int{11, 12} {
		if s, ok := nv[i].Value.(string); !ok || s == "" {
			t.Errorf("value %d (detail, hash) = %#v, want a text", i, nv[i].Value)
		}
	}
}
