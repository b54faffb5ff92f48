package ledger

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// numericLiterals are decimal texts (billing.Text form) whose NUMERIC
// encoding must read back as the same text: scale kept, digit groups aligned
// on the point, leading and trailing zero groups dropped.
var numericLiterals = []string{"0", "0.0", "0.00", "45.00", "45", "-12.00", "1843.275", "0.000123", "0.0001",
	"0.00000005", "1000", "10000", "100000000", "99999999.99990000", "-0.5", "12345678.9", "100.1000",
	"123456789012345678901234567890.123456789", "0.000000000000000000000000001", "-9223372036854775808",
	"1000000000000000000", "-999999999999999999.9", "5", "50000.00005"}

// The server reads back every literal as sent ('45.00' stays '45.00').
func TestCopyNumericRoundTrip(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	conn, err := s.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE nums (i BIGINT, v NUMERIC)"); err != nil {
		t.Fatal(err)
	}
	var e copyEncoder
	e.header()
	for i, lit := range numericLiterals {
		e.row(2)
		e.int8(int64(i))
		if err := e.numeric(decimal.NullDecimal{Decimal: decimal.RequireFromString(lit), Valid: true}); err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
	}
	e.row(2)
	e.int8(int64(len(numericLiterals)))
	if err := e.numeric(decimal.NullDecimal{}); err != nil {
		t.Fatal(err)
	}
	if err := withPgConn(conn, func(pc *pgx.Conn) error {
		return copyBuffer(ctx, pc, copySQL("nums", []string{"i", "v"}), &e, len(numericLiterals)+1)
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT i, v::text FROM nums ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var i int
		var v *string
		if err := rows.Scan(&i, &v); err != nil {
			t.Fatal(err)
		}
		n++
		if i == len(numericLiterals) {
			if v != nil {
				t.Errorf("NULL read back as %q", *v)
			}
			continue
		}
		want := billing.Text(decimal.RequireFromString(numericLiterals[i]))
		if v == nil || *v != want {
			t.Errorf("%s: read back %v, want %q", numericLiterals[i], v, want)
		}
	}
	if err := rows.Err(); err != nil || n != len(numericLiterals)+1 {
		t.Fatalf("read %d rows, %v", n, err)
	}
}

func TestAppendNumericRejects(t *testing.T) {
	for _, lit := range []string{"", ".", "-", "1e3", "1.2.3", "abc", " 1", "+1", "1_000"} {
		if _, err := appendNumeric(nil, []byte(lit)); err == nil {
			t.Errorf("appendNumeric(%q) succeeded", lit)
		}
	}
	if _, err := appendNumeric(nil, []byte("0."+strings.Repeat("1", numericMaxScale+1))); err == nil {
		t.Error("appendNumeric accepted a scale NUMERIC cannot hold")
	}
}

// A reset after the COPY has started (and sent data) discards it; the
// second attempt is stored alone, numbered from 1.
func TestPayableBatchResetLarge(t *testing.T) {
	s := MustOpen(t)
	id := mustBeginRun(t, s)
	b := mustPayableBatch(t, s, id)
	for i := range 3000 {
		if err := b.Add(samplePayable(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the writer send some of it
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := b.Add(samplePayable(10000 + i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(october); err != nil {
		t.Fatal(err)
	}
	var got struct{ N, Min, Max, Below int }
	if err := s.db.Get(&got, s.db.Rebind(`SELECT count(*) AS n, min(line_no) AS min, max(line_no) AS max,
		count(CASE WHEN charge_id < 'charge-010000' THEN 1 END) AS below FROM payable_charges WHERE run_id = ?`), id); err != nil {
		t.Fatal(err)
	}
	if got.N != n || got.Min != 1 || got.Max != n || got.Below != 0 {
		t.Fatalf("after Reset: %+v, want %d lines numbered 1..%d, none of the first attempt", got, n, n)
	}
}

// A line the server refuses in the middle of the COPY fails the batch: the
// error says where, nothing is stored, and the store works on.
func TestPayableCopyFailure(t *testing.T) {
	dbtest.PostgresOnly(t)
	s := MustOpen(t)
	ctx := context.Background()
	id := mustBeginRun(t, s)
	b := mustPayableBatch(t, s, id)
	var addErr error
	for i := 0; i < 3000 && addErr == nil; i++ {
		c := samplePayable(i)
		if i == 1500 {
			c.SKU = "bad\xff" // not UTF-8: the server refuses the text
		}
		addErr = b.Add(c)
	}
	err := b.Commit(october)
	if addErr != nil {
		err = addErr
	}
	if err == nil || !strings.Contains(err.Error(), "COPY payable_charges, line 1501") {
		t.Fatalf("batch with a bad line: %v; want an error naming COPY line 1501", err)
	}
	if n, _, err := s.Counts(ctx, id); err != nil || n != 0 {
		t.Fatalf("Counts after the failure = %d, %v; want 0", n, err)
	}
	storePayablesInto(t, s, id)
}

// BenchmarkPayableCopyEncode measures the client side of the PostgreSQL
// payable insert alone: encoding lines into binary COPY data (written to
// io.Discard), in rows/s.
func BenchmarkPayableCopyEncode(b *testing.B) {
	cs := make([]*billing.PayableCharge, 1000)
	for i := range cs {
		cs[i] = samplePayable(i)
	}
	var (
		r     rowCodec
		e     copyEncoder
		bytes int
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := r.copyPayable(&e, 1, int64(i+1), customerKey(cs[i%len(cs)].Tags), 1, cs[i%len(cs)]); err != nil {
			b.Fatal(err)
		}
		if len(e.buf) >= copyFlushSize {
			bytes += len(e.buf)
			_, _ = io.Discard.Write(e.buf)
			e.buf = e.buf[:0]
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	bytes += len(e.buf)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/row")
}

// The wire form of NUMERIC: length, ndigits, weight, sign, dscale, then
// base-10000 digits.
func TestAppendNumericBytes(t *testing.T) {
	for lit, want := range map[string]string{
		"-1843.2750": "0000000c 0002 0000 4000 0004 07330abe",
		"45.00":      "0000000a 0001 0000 0000 0002 002d",
		"0.000123":   "0000000c 0002 ffff 0000 0006 000108fc",
		"10000":      "0000000a 0001 0001 0000 0000 0001",
		"0.00":       "00000008 0000 0000 0000 0002",
	} {
		b, err := appendNumeric(nil, []byte(lit))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x %x %x %x %x %x", b[:4], b[4:6], b[6:8], b[8:10], b[10:12], b[12:]); strings.TrimSpace(got) != want {
			t.Errorf("appendNumeric(%q) = %s, want %s", lit, got, want)
		}
	}
}

// cpuMeter measures the CPU time a benchmark spends in this process (the
// client) and, on PostgreSQL, in the server's processes (the postmaster's
// children, from /proc: Linux only), so that a benchmark on a shared machine
// can say what each side costs per row, whatever the wall time.
type cpuMeter struct {
	postmaster       int
	client0, server0 time.Duration
}

func startCPU(tb testing.TB, s *Store) *cpuMeter {
	tb.Helper()
	m := &cpuMeter{}
	if s.d.postgres() {
		var pid int
		if err := s.db.Get(&pid, "SELECT pg_backend_pid()"); err != nil {
			tb.Fatal(err)
		}
		if st, ok := procStat(pid); ok {
			m.postmaster = st.ppid
		}
	}
	m.client0, m.server0 = clientCPU(), m.serverCPU()
	return m
}

// report adds client-µs/row and, on PostgreSQL, server-µs/row.
func (m *cpuMeter) report(b *testing.B, rows int) {
	b.ReportMetric(float64((clientCPU()-m.client0).Microseconds())/float64(rows), "client-µs/row")
	if m.postmaster != 0 {
		b.ReportMetric(float64((m.serverCPU()-m.server0).Microseconds())/float64(rows), "server-µs/row")
	}
}

func (m *cpuMeter) serverCPU() time.Duration {
	if m.postmaster == 0 {
		return 0
	}
	pm, ok := procStat(m.postmaster)
	if !ok {
		return 0
	}
	total := pm.cpu + pm.childCPU // its own and its ended children's
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.ppid == m.postmaster {
			total += st.cpu
		}
	}
	return total
}

type pstat struct {
	ppid          int
	cpu, childCPU time.Duration
}

// procStat reads /proc/pid/stat: parent, utime+stime, cutime+cstime.
func procStat(pid int) (pstat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pstat{}, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	if len(f) < 15 {
		return pstat{}, false
	}
	n := func(i int) time.Duration {
		v, _ := strconv.Atoi(f[i-3])
		return time.Duration(v) * 10 * time.Millisecond
	} // USER_HZ 100
	ppid, _ := strconv.Atoi(f[4-3])
	return pstat{ppid: ppid, cpu: n(14) + n(15), childCPU: n(16) + n(17)}, true
}

func clientCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
