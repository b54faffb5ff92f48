package ledger

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// SQLite's API (sqlite3.c, compiled into the binary by
// github.com/mattn/go-sqlite3).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_bind_null(sqlite3_stmt*, int);
extern int sqlite3_bind_int64(sqlite3_stmt*, int, long long);
extern int sqlite3_bind_text(sqlite3_stmt*, int, const char*, int, void(*)(void*));
extern int sqlite3_step(sqlite3_stmt*);
extern int sqlite3_reset(sqlite3_stmt*);
extern int sqlite3_clear_bindings(sqlite3_stmt*);
extern int sqlite3_bind_parameter_count(sqlite3_stmt*);
extern sqlite3 *sqlite3_db_handle(sqlite3_stmt*);
extern int sqlite3_extended_errcode(sqlite3*);
extern const char *sqlite3_errmsg(sqlite3*);
extern const char *sqlite3_sql(sqlite3_stmt*);
extern int sqlite3_prepare_v2(sqlite3*, const char*, int, sqlite3_stmt**, const char**);
extern int sqlite3_finalize(sqlite3_stmt*);
extern int sqlite3_changes(sqlite3*);

// One bound value: kind 0 NULL, 1 the integer i, 2 the n bytes of text at
// offset i of the batch's text.
typedef struct {
	int64_t i;
	int32_t kind;
	int32_t n;
} ledger_val;

// ledger_bind_row binds one row's ncol values to st's parameters first+1,
// first+2, ...
static int ledger_bind_row(sqlite3_stmt *st, const ledger_val *row, int ncol, int first, const char *text) {
	static const char empty[1] = {0};
	int rc = 0;
	for (int c = 0; c < ncol && rc == 0; c++) {
		switch (row[c].kind) {
		case 1:
			rc = sqlite3_bind_int64(st, first + c + 1, row[c].i);
			break;
		case 2:
			rc = sqlite3_bind_text(st, first + c + 1, row[c].n ? text + row[c].i : empty, row[c].n, (void (*)(void*))0);
			break;
		default:
			rc = sqlite3_bind_null(st, first + c + 1);
		}
	}
	return rc;
}

// ledger_fail stores a failure: the row's index, the extended error code
// and the connection's error message (msglen bytes at most, NUL-terminated).
static void ledger_fail(sqlite3 *db, int row, int *failed, int *ext, char *msg, int msglen) {
	*failed = row;
	*ext = sqlite3_extended_errcode(db);
	strncpy(msg, sqlite3_errmsg(db), msglen - 1);
	msg[msglen - 1] = 0;
}

// ledger_exec_one binds and steps one row of st; 0 or SQLite's error code.
static int ledger_exec_one(sqlite3_stmt *st, const ledger_val *row, int ncol, const char *text) {
	int rc = ledger_bind_row(st, row, ncol, 0, text);
	if (rc == 0) {
		rc = sqlite3_step(st);
		if (rc == 101 || rc == 100) { // SQLITE_DONE, SQLITE_ROW
			rc = 0;
		}
	}
	return rc;
}

// ledger_exec_rows binds and steps nrows rows of ncol values each: k rows
// per step of multi (an INSERT OR FAIL of k rows; NULL: none) while k rows
// are left, the rest one per step of st. The texts are bound SQLITE_STATIC:
// they stay in text until the statement is reset and its bindings cleared,
// before ledger_exec_rows returns, so SQLite keeps no pointer to them.
//
// On the first failure it stores the failing row's index in *failed, the
// extended error code in *ext and the connection's error message in msg, and
// returns the code; the rows before that one are stored. A failed step of
// multi kept the statement's rows before the failing one (OR FAIL;
// sqlite3_changes counts them) or none (a trigger's RAISE(ABORT) rolls the
// statement back and counts 0): the rest of its k rows are stepped one by one
// through st, so that the failing row fails on its own and is the one
// reported; should none of them fail so, the statement's own failure is
// reported, at the first row it did not keep.
static int ledger_exec_rows(sqlite3_stmt *st, sqlite3_stmt *multi, int k, const ledger_val *v, int ncol, int nrows,
		const char *text, int *failed, int *ext, char *msg, int msglen) {
	int rc = 0, r = 0;
	if (multi != NULL) {
		while (rc == 0 && nrows - r >= k) {
			for (int j = 0; j < k && rc == 0; j++) {
				rc = ledger_bind_row(multi, v + (size_t)(r + j) * ncol, ncol, j * ncol, text);
			}
			int stepped = rc == 0;
			if (stepped) {
				rc = sqlite3_step(multi);
				if (rc == 101) { // SQLITE_DONE
					rc = 0;
				}
			}
			if (rc == 0) {
				sqlite3_reset(multi);
				r += k;
				continue;
			}
			sqlite3 *db = sqlite3_db_handle(multi);
			int kept = stepped ? sqlite3_changes(db) : 0;
			if (kept < 0 || kept >= k) {
				kept = 0;
			}
			int end = r + k;
			ledger_fail(db, r + kept, failed, ext, msg, msglen);
			int mrc = rc;
			sqlite3_reset(multi);
			rc = 0;
			for (r += kept; r < end && rc == 0; r++) {
				rc = ledger_exec_one(st, v + (size_t)r * ncol, ncol, text);
				if (rc != 0) {
					ledger_fail(sqlite3_db_handle(st), r, failed, ext, msg, msglen);
				}
				sqlite3_reset(st);
			}
			if (rc == 0) {
				rc = mrc; // *failed, *ext and msg are the statement's
			}
		}
		sqlite3_clear_bindings(multi);
	}
	for (; r < nrows && rc == 0; r++) {
		rc = ledger_exec_one(st, v + (size_t)r * ncol, ncol, text);
		if (rc != 0) {
			ledger_fail(sqlite3_db_handle(st), r, failed, ext, msg, msglen);
		}
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	return rc;
}

// ledger_prepare prepares sql on st's connection; NULL if it cannot.
static sqlite3_stmt *ledger_prepare(sqlite3_stmt *st, const char *sql) {
	sqlite3_stmt *out = NULL;
	if (sqlite3_prepare_v2(sqlite3_db_handle(st), sql, -1, &out, NULL) != 0) {
		sqlite3_finalize(out);
		return NULL;
	}
	return out;
}
*/
import "C"

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// sqliteRows executes an INSERT statement prepared by go-sqlite3 for many
// rows with one cgo call per batch: the rows' values are gathered in C
// memory (texts by offset into one buffer), then bound and stepped in C,
// row after row, the texts bound SQLITE_STATIC (SQLite does not copy them;
// the bindings are cleared before the call returns). Through the driver
// every row costs one cgo call per value, one for the step and one for the
// reset, and SQLite copies each text it is given (SQLITE_TRANSIENT: a
// malloc under SQLite's memory accounting, a copy, a free) (BENCHMARKS.md,
// "Fetch stages: rows bound in C"). The buffers are C memory: nothing for
// Go's collector to scan or pace.
//
// The statement is go-sqlite3's (its sqlite3_stmt, reached by reflection:
// sqliteRowsFor reports false when go-sqlite3 changed so that it cannot be
// reached, and the callers then execute through the driver;
// TestSQLiteRowsReachTheStatements fails then). It is used like the driver
// uses it: on the goroutine holding its connection, and reset with its
// bindings cleared after every batch, so the driver's own later use (which
// resets and binds first) finds it as it left it. The same values are
// stored as through the driver: NULL, an int64 or a text (the only types
// the ledger's insert values have).
type sqliteRows struct {
	st   *C.sqlite3_stmt
	ncol int
	// multi inserts sqliteRowsMulti rows per step (multiRowInsert); nil
	// when st's statement is not a plain one-row INSERT ... VALUES. Ours,
	// prepared on st's connection: finalized by free.
	multi *C.sqlite3_stmt
	*rowsBuffers
}

// sqliteRowsMulti is how many rows one step of sqliteRows.multi inserts.
// One row per statement costs SQLite a statement's start and end per row
// (the write cursor opened and positioned from the root, the program reset);
// eight per statement cost ≈ 0.5 µs less per row (BENCHMARKS.md, round
// sixteen), and more per statement gain little.
const sqliteRowsMulti = 8

// multiRowInsert turns the one-row "INSERT INTO t (...) VALUES (?, ..., ?)"
// of ncol parameters into an INSERT OR FAIL of k such rows; false for any
// other statement. OR FAIL, not the default ABORT: a statement that may
// abort after inserting some of its rows keeps a journal of every page it
// changes, which costs more than the rows save; with FAIL a failing row
// keeps the statement's earlier rows, as one row per statement would have
// (ledger_exec_rows then finds the failing row one by one). Any failure ends
// the writer's transaction anyway.
func multiRowInsert(one string, ncol, k int) (string, bool) {
	s := strings.TrimSpace(one)
	for strings.HasPrefix(s, "--") { // the statement's leading comment lines
		_, rest, _ := strings.Cut(s, "\n")
		s = strings.TrimSpace(rest)
	}
	s = strings.TrimSuffix(s, ";")
	i := strings.LastIndex(s, "VALUES")
	if !strings.HasPrefix(s, "INSERT INTO ") || i < 0 || ncol < 1 {
		return "", false
	}
	tuple := strings.TrimSpace(s[i+len("VALUES"):])
	if strings.ReplaceAll(tuple, " ", "") != "("+strings.TrimSuffix(strings.Repeat("?,", ncol), ",")+")" {
		return "", false
	}
	tuples := strings.TrimSuffix(strings.Repeat(tuple+", ", k), ", ")
	return "INSERT OR FAIL INTO " + s[len("INSERT INTO "):i] + "VALUES " + tuples, true
}

// rowsBuffers are a batch's values and texts, in C memory, reused through
// freeBuffers (never garbage collected: free hands them back).
type rowsBuffers struct {
	vals  []C.ledger_val // in C memory (cvals); len = rows added * ncol
	cvals unsafe.Pointer
	text  []byte // in C memory (ctext)
	ctext unsafe.Pointer
	msg   *C.char // a failure's message (rowsMsgLen bytes of C memory)
}

const rowsMsgLen = 512

// freeBuffers keeps a few released rowsBuffers for the next statements (the
// customer writer prepares its statements per transaction).
var freeBuffers struct {
	mu   sync.Mutex
	list []*rowsBuffers
}

// rowsBuffersKeep is the most text a released rowsBuffers keeps for reuse;
// freeBuffersMax how many are kept.
const (
	rowsBuffersKeep = 1 << 20
	freeBuffersMax  = 4
)

func getBuffers() *rowsBuffers {
	freeBuffers.mu.Lock()
	defer freeBuffers.mu.Unlock()
	if n := len(freeBuffers.list); n > 0 {
		b := freeBuffers.list[n-1]
		freeBuffers.list = freeBuffers.list[:n-1]
		return b
	}
	return &rowsBuffers{msg: (*C.char)(C.calloc(rowsMsgLen, 1))}
}

func putBuffers(b *rowsBuffers) {
	b.vals, b.text = b.vals[:0], b.text[:0]
	freeBuffers.mu.Lock()
	if cap(b.text) <= rowsBuffersKeep && cap(b.vals) <= rowsBuffersKeep/16 && len(freeBuffers.list) < freeBuffersMax {
		freeBuffers.list = append(freeBuffers.list, b)
		b = nil
	}
	freeBuffers.mu.Unlock()
	if b != nil {
		C.free(b.cvals)
		C.free(b.ctext)
		C.free(unsafe.Pointer(b.msg))
	}
}

// sqliteRowsFor returns the fast path of stmt, a go-sqlite3 statement with
// ncol parameters; false when stmt is not one (PostgreSQL) or cannot be
// reached.
func sqliteRowsFor(stmt any, ncol int) (*sqliteRows, bool) {
	st, ok := sqliteStmtOf(stmt)
	if !ok || int(C.sqlite3_bind_parameter_count(st)) != ncol {
		return nil, false
	}
	r := &sqliteRows{st: st, ncol: ncol, rowsBuffers: getBuffers()}
	if q, ok := multiRowInsert(C.GoString(C.sqlite3_sql(st)), ncol, sqliteRowsMulti); ok {
		cq := C.CString(q)
		r.multi = C.ledger_prepare(st, cq) // nil: one row per step
		C.free(unsafe.Pointer(cq))
	}
	return r, true
}

// add appends one row (ncol values) to the batch.
func (r *sqliteRows) add(row []rowVal) error {
	if len(row) != r.ncol {
		return fmt.Errorf("insert: %d values for %d parameters", len(row), r.ncol)
	}
	if len(r.vals)+r.ncol > cap(r.vals) {
		r.growVals(len(r.vals) + r.ncol)
	}
	for _, v := range row {
		var cv C.ledger_val
		switch v.kind {
		case valNull:
		case valInt:
			cv.kind, cv.i = 1, C.int64_t(v.i)
		case valText:
			if len(v.s) > 1<<30 {
				return fmt.Errorf("insert: a text of %d bytes", len(v.s))
			}
			if len(r.text)+len(v.s) > cap(r.text) {
				r.growText(len(r.text) + len(v.s))
			}
			cv.kind, cv.i, cv.n = 2, C.int64_t(len(r.text)), C.int32_t(len(v.s))
			r.text = append(r.text, v.s...) // within cap: stays in C memory
		default:
			return fmt.Errorf("insert: unsupported value kind %d", v.kind)
		}
		r.vals = append(r.vals, cv) // within cap: stays in C memory
	}
	return nil
}

// growVals makes room for n values (C memory, realloc'd).
func (r *sqliteRows) growVals(n int) {
	c := max(2*cap(r.vals), n, 64*r.ncol)
	p := C.realloc(r.cvals, C.size_t(c)*C.size_t(unsafe.Sizeof(C.ledger_val{})))
	if p == nil {
		panic("ledger: out of C memory for insert values")
	}
	r.cvals = p
	r.vals = unsafe.Slice((*C.ledger_val)(p), c)[:len(r.vals)]
}

// growText makes room for n bytes of text (C memory, realloc'd: the batch
// refers to its texts by offset).
func (r *sqliteRows) growText(n int) {
	c := max(2*cap(r.text), n, 16<<10)
	p := C.realloc(r.ctext, C.size_t(c))
	if p == nil {
		panic("ledger: out of C memory for insert texts")
	}
	r.ctext = p
	r.text = unsafe.Slice((*byte)(p), c)[:len(r.text)]
}

// rows is the number of rows in the batch.
func (r *sqliteRows) rows() int { return len(r.vals) / r.ncol }

// exec inserts the batch's rows in the order added and empties the batch.
// On failure it returns the index of the row that failed (the rows before it
// are inserted, as through the driver row by row) and SQLite's error.
func (r *sqliteRows) exec() (int, error) {
	n := r.rows()
	if n == 0 {
		return 0, nil
	}
	var failed, ext C.int
	rc := C.ledger_exec_rows(r.st, r.multi, sqliteRowsMulti, (*C.ledger_val)(r.cvals), C.int(r.ncol), C.int(n), (*C.char)(r.ctext),
		&failed, &ext, r.msg, rowsMsgLen)
	r.vals, r.text = r.vals[:0], r.text[:0]
	if rc == 0 {
		return 0, nil
	}
	msg := C.GoString(r.msg)
	return int(failed), &sqliteError{Code: int(rc), ExtendedCode: int(ext), msg: msg}
}

// discard empties the batch without executing it.
func (r *sqliteRows) discard() { r.vals, r.text = r.vals[:0], r.text[:0] }

// free finalizes the multi-row statement and hands the batch's buffers back
// for reuse; r is not used afterwards. The one-row statement is the
// driver's (closed with it). Call it on the goroutine holding the
// connection, before the connection closes.
func (r *sqliteRows) free() {
	if r == nil {
		return
	}
	if r.multi != nil {
		C.sqlite3_finalize(r.multi)
		r.multi = nil
	}
	if r.rowsBuffers == nil {
		return
	}
	putBuffers(r.rowsBuffers)
	r.rowsBuffers = nil
}

// sqliteError is SQLite's error for a row inserted by sqliteRows: its
// message is the connection's, as go-sqlite3 reports it.
type sqliteError struct {
	Code, ExtendedCode int
	msg                string
}

func (e *sqliteError) Error() string { return e.msg }

// sqliteRowsBatch is the most rows execRows binds in one cgo call.
const sqliteRowsBatch = 256

// execRows inserts the rows order[0], order[1], … (row(i) is row i's
// values) through fast, in batches of up to sqliteRowsBatch rows. On failure
// it returns the failing row's i.
func execRows(fast *sqliteRows, order []int, row func(i int) []rowVal) (int, error) {
	start := 0
	for k, i := range order {
		if err := fast.add(row(i)); err != nil {
			fast.discard()
			return i, err
		}
		if fast.rows() == sqliteRowsBatch || k == len(order)-1 {
			failed, err := fast.exec()
			if err != nil {
				return order[start+failed], err
			}
			start = k + 1
		}
	}
	return 0, nil
}

// rowVal is one value of an inserted row, unboxed: the rows are encoded as
// rowVals (no allocation per value, as boxing a string or an int64 into a
// driver.Value costs) and boxed only when they go through the driver
// (namedValues).
type rowVal struct {
	s    string
	i    int64
	kind valKind
}

// valKind is what a rowVal holds.
type valKind uint8

const (
	valNull valKind = iota
	valInt
	valText
)

func textVal(s string) rowVal { return rowVal{s: s, kind: valText} }
func intVal(i int64) rowVal   { return rowVal{i: i, kind: valInt} }

// nullTextVal is the text s, or NULL when !valid.
func nullTextVal(s string, valid bool) rowVal {
	if !valid {
		return rowVal{}
	}
	return textVal(s)
}

// value is v boxed for the driver: nil, an int64 or a string.
func (v rowVal) value() driver.Value {
	switch v.kind {
	case valInt:
		return v.i
	case valText:
		return v.s
	default:
		return nil
	}
}

// namedValues appends row's values, boxed for the driver, to dst[:0].
func namedValues(dst []driver.NamedValue, row []rowVal) []driver.NamedValue {
	dst = dst[:0]
	for i, v := range row {
		dst = append(dst, driver.NamedValue{Ordinal: i + 1, Value: v.value()})
	}
	return dst
}
