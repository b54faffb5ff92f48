package ledger

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// The detail reads step go-sqlite3's statements in C batches
// (sqliteread.go): were go-sqlite3 to change so that they cannot reach
// them, the reads would fall back to the driver silently, slower; this test
// says so.
func TestSQLiteReadsReachTheStatements(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	s := MustOpen(t)
	id := storePayables(t, s, []*billing.PayableCharge{samplePayable(1), samplePayable(2)})
	saveCustomerWithData(t, s, id, "a", billing.CoverageAvailable, []billing.ReceivableCharge{sampleReceivable(1)}, nil)
	for _, q := range []struct {
		name string
		ncol int
		want int
	}{{qEachPayable, 11, 2}, {qEachReceivableAvailable, 12, 1}} {
		n := 0
		fast, err := s.eachSQLite(ctx, s.q[q.name], id, q.ncol, true, func([]storedCol) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if !fast || n != q.want {
			t.Errorf("%s: read %d rows (want %d) in C batches %v, want true", q.name, n, q.want, fast)
		}
	}
	// A statement of another shape is refused, so is anything else.
	conn, err := s.db.Driver().Open(mustDSN(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := conn.(driver.ConnPrepareContext).PrepareContext(ctx, s.q[qEachPayable])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if r, ok := sqliteReaderFor(st, 11); !ok {
		t.Error("each_payable not read in C batches")
	} else {
		r.close()
	}
	if _, ok := sqliteReaderFor(st, 12); ok {
		t.Error("a statement of 11 columns accepted for 12")
	}
	if _, ok := sqliteReaderFor("not a statement", 1); ok {
		t.Error("a string accepted as a statement")
	}
}

func mustDSN(t *testing.T, s *Store) string {
	t.Helper()
	dsn, err := dataSourceName(s.path, true)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// The C batches read what the driver reads, column for column: NULLs, empty
// texts, non-ASCII texts, NUL bytes, blobs, integers at both ends of int64,
// floats (read as neither text nor integer), a text larger than the batch
// buffer, over several batches; and the strings stay valid once the
// batches' C memory is reused and freed.
func TestSQLiteReadsReadWhatTheDriverReads(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	s := MustOpen(t)
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE read_probe (k INTEGER PRIMARY KEY, a TEXT, b, c TEXT NOT NULL, d)`); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x€", 100<<10) // 400 KiB: more than the first buffer
	values := []any{nil, "", "plain", "Ünïcode — 料金", "with\x00nul", "\x00", int64(math.MaxInt64), int64(math.MinInt64),
		int64(0), int64(-1), 1.5, []byte{}, []byte("a\x00blob\xff"), big, "12345678901234567890123456789"}
	const rows = 700 // more than two batches
	for k := range rows {
		a, b, d := values[k%len(values)], values[(k/3)%len(values)], values[(k*7+1)%len(values)]
		c := fmt.Sprintf("row %d %v", k, values[(k+5)%len(values)] == nil)
		if _, err := s.db.ExecContext(ctx, `INSERT INTO read_probe VALUES (?, ?, ?, ?, ?)`, k, a, b, c, d); err != nil {
			t.Fatal(err)
		}
	}
	const query = `SELECT a, b, c, d, k FROM read_probe WHERE k >= ? ORDER BY k`
	read := func(batch bool) [][]storedCol {
		var got [][]storedCol
		fast, err := s.eachSQLite(ctx, query, 0, 5, batch, func(r []storedCol) error {
			got = append(got, append([]storedCol(nil), r...))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fast != batch {
			t.Fatalf("read in C batches %v, want %v", fast, batch)
		}
		return got
	}
	want, got := read(false), read(true)
	if len(want) != rows || len(got) != rows {
		t.Fatalf("read %d rows through the driver, %d in batches, want %d", len(want), len(got), rows)
	}
	kinds := map[colKind]int{}
	for i := range want {
		for c := range want[i] {
			kinds[want[i][c].kind]++
			if got[i][c] != want[i][c] {
				t.Fatalf("row %d column %d: batches read %+.40v, the driver %+.40v", i, c, got[i][c], want[i][c])
			}
		}
	}
	for _, k := range []colKind{colNull, colText, colInt, colOther} {
		if kinds[k] == 0 {
			t.Errorf("no column of kind %d read: the probe lacks a case", k)
		}
	}
	if got[13][0].s != big || got[3][0].s != "Ünïcode — 料金" || got[4][0].s != "with\x00nul" || got[12][0].s != "a\x00blob\xff" {
		t.Error("a text read back altered")
	}
}

// A read in C batches stops at fn's first error (returned as it is), at a
// cancelled context (checked between batches: the rest of the batch is
// read first) and at the statement's error, after the rows before it, as
// through the driver.
func TestSQLiteReadsStop(t *testing.T) {
	dbtest.SQLiteOnly(t)
	ctx := context.Background()
	s := MustOpen(t)
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE read_probe (k INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for k := range 600 {
		v := int64(k)
		if k == 400 {
			v = math.MinInt64 // abs() fails on it: an error of the step, mid-batch
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO read_probe VALUES (?, ?)`, k, v); err != nil {
			t.Fatal(err)
		}
	}
	const query = `SELECT abs(v) FROM read_probe WHERE k >= ? ORDER BY k`
	for _, batch := range []bool{false, true} {
		n := 0
		_, err := s.eachSQLite(ctx, query, 0, 1, batch, func(r []storedCol) error {
			if r[0].kind != colInt || r[0].i != int64(n) {
				return fmt.Errorf("row %d read %+v", n, r[0])
			}
			n++
			return nil
		})
		var re *readError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "integer overflow") || n != 400 {
			t.Errorf("batches %v: read %d rows, then %v; want 400, then the read's integer overflow", batch, n, err)
		}

		stop := errors.New("stop")
		n = 0
		_, err = s.eachSQLite(ctx, query, 0, 1, batch, func([]storedCol) error {
			if n++; n == 300 {
				return stop
			}
			return nil
		})
		if err != stop || n != 300 {
			t.Errorf("batches %v: fn's error after %d rows gave %v, want it as it is after 300", batch, n, err)
		}

		cctx, cancel := context.WithCancel(ctx)
		n = 0
		_, err = s.eachSQLite(cctx, query, 0, 1, batch, func([]storedCol) error {
			if n++; n == 10 {
				cancel()
			}
			return nil
		})
		if !errors.As(err, &re) || !errors.Is(re.err, context.Canceled) || n >= 400 {
			t.Errorf("batches %v: cancelled after 10 rows: read %d, then %v; want context.Canceled", batch, n, err)
		}
		cancel()
	}
}

// BenchmarkStoredRead measures the detail reads' row traffic: each_payable's
// rows (11 columns, the detail included) read through the driver and in C
// batches, without decoding, in CPU-µs and allocations per row.
func BenchmarkStoredRead(b *testing.B) {
	dbtest.SQLiteOnly(b)
	s := MustOpen(b)
	id := storeSamplePayables(b, s, 20000)
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "driver", true: "batches"}[batch]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU(b, s)
			rows := 0
			for range b.N {
				if _, err := s.eachSQLite(context.Background(), s.q[qEachPayable], id, 11, batch, func(r []storedCol) error {
					rows++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, rows)
		})
	}
}

// BenchmarkEachPayableTransient measures the workbook's payable detail read
// (decoding included).
func BenchmarkEachPayableTransient(b *testing.B) {
	benchPayableRead(b, (*Store).EachPayableTransient)
}

// BenchmarkEachPayableView measures the detail CSV file's payable read
// (decoding included): lent texts, reused lists (EachPayableView).
func BenchmarkEachPayableView(b *testing.B) {
	benchPayableRead(b, (*Store).EachPayableView)
}

// benchPayableRead reads 20,000 stored payable lines with read and reports
// the client CPU per line.
func benchPayableRead(b *testing.B, read func(*Store, context.Context, int64, func(*billing.PayableCharge) error) error) {
	dbtest.SQLiteOnly(b)
	s := MustOpen(b)
	id := storeSamplePayables(b, s, 20000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s)
	rows := 0
	for range b.N {
		if err := read(s, context.Background(), id, func(*billing.PayableCharge) error {
			rows++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, rows)
}
