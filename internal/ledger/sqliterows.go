package ledger

/*
#include <stdint.h>
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

// One bound value: kind 0 NULL, 1 the integer i, 2 the n bytes of text at
// offset i of the batch's text.
typedef struct {
	int64_t i;
	int32_t kind;
	int32_t n;
} ledger_val;

// ledger_exec_rows binds and steps nrows rows of ncol values each. The texts
// are bound SQLITE_STATIC: they stay in text until the statement is reset
// and its bindings cleared, before ledger_exec_rows returns, so SQLite keeps
// no pointer to them. On the first failure it stores the row's index in
// *failed, the extended error code in *ext and the connection's error
// message in msg (msglen bytes at most, NUL-terminated), and returns the
// code.
static int ledger_exec_rows(sqlite3_stmt *st, const ledger_val *v, int ncol, int nrows, const char *text,
		int *failed, int *ext, char *msg, int msglen) {
	static const char empty[1] = {0};
	int rc = 0;
	for (int r = 0; r < nrows && rc == 0; r++) {
		const ledger_val *row = v + (size_t)r * ncol;
		for (int c = 0; c < ncol && rc == 0; c++) {
			switch (row[c].kind) {
			case 1:
				rc = sqlite3_bind_int64(st, c + 1, row[c].i);
				break;
			case 2:
				rc = sqlite3_bind_text(st, c + 1, row[c].n ? text + row[c].i : empty, row[c].n, (void (*)(void*))0);
				break;
			default:
				rc = sqlite3_bind_null(st, c + 1);
			}
		}
		if (rc == 0) {
			rc = sqlite3_step(st);
			if (rc == 101 || rc == 100) { // SQLITE_DONE, SQLITE_ROW
				rc = 0;
			}
		}
		if (rc != 0) {
			sqlite3 *db = sqlite3_db_handle(st);
			*failed = r;
			*ext = sqlite3_extended_errcode(db);
			strncpy(msg, sqlite3_errmsg(db), msglen - 1);
			msg[msglen - 1] = 0;
		}
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	return rc;
}
*/
import "C"

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// sqliteRows executes an INSERT statement prepared by go-sqlite3 for many
// rows with one cgo call per batch: the rows' values are gathered in
// buffers without pointers (texts by offset into one byte buffer), then
// bound and stepped in C, row after row, the texts bound SQLITE_STATIC
// (SQLite does not copy them; the buffers stay put during the call, and the
// bindings are cleared before it returns). Through the driver every row
// costs one cgo call per value, one for the step and one for the reset, and
// SQLite copies each text it is given (SQLITE_TRANSIENT: a malloc under
// SQLite's memory accounting, a copy, a free) (BENCHMARKS.md, "Fetch
// stages: rows bound in C").
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
	*rowsBuffers
}

// rowsBuffers are a batch's values and texts, reused (rowsBuffersPool).
type rowsBuffers struct {
	vals []C.ledger_val // len = rows added * ncol
	text []byte
	msg  [512]byte // a failure's message
}

var rowsBuffersPool = sync.Pool{New: func() any { return new(rowsBuffers) }}

// rowsBuffersKeep is the most text a released rowsBuffers keeps for reuse.
const rowsBuffersKeep = 1 << 20

// sqliteRowsFor returns the fast path of stmt, a go-sqlite3 statement with
// ncol parameters; false when stmt is not one (PostgreSQL) or cannot be
// reached.
func sqliteRowsFor(stmt any, ncol int) (*sqliteRows, bool) {
	v := reflect.ValueOf(stmt)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct ||
		v.Elem().Type().String() != "sqlite3.SQLiteStmt" {
		return nil, false
	}
	f := v.Elem().FieldByName("s")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem().Name() != "_Ctype_struct_sqlite3_stmt" || f.IsNil() {
		return nil, false
	}
	st := (*C.sqlite3_stmt)(f.UnsafePointer())
	if int(C.sqlite3_bind_parameter_count(st)) != ncol {
		return nil, false
	}
	return &sqliteRows{st: st, ncol: ncol, rowsBuffers: rowsBuffersPool.Get().(*rowsBuffers)}, true
}

// add appends one row (ncol values: nil, int64 or string) to the batch.
func (r *sqliteRows) add(row []driver.NamedValue) error {
	if len(row) != r.ncol {
		return fmt.Errorf("insert: %d values for %d parameters", len(row), r.ncol)
	}
	for _, nv := range row {
		var cv C.ledger_val
		switch x := nv.Value.(type) {
		case nil:
		case int64:
			cv.kind, cv.i = 1, C.int64_t(x)
		case string:
			if len(x) > 1<<30 {
				return fmt.Errorf("insert: a text of %d bytes", len(x))
			}
			cv.kind, cv.i, cv.n = 2, C.int64_t(len(r.text)), C.int32_t(len(x))
			r.text = append(r.text, x...)
		default:
			return fmt.Errorf("insert: unsupported value type %T", nv.Value)
		}
		r.vals = append(r.vals, cv)
	}
	return nil
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
	var text *C.char
	if len(r.text) > 0 {
		text = (*C.char)(unsafe.Pointer(&r.text[0]))
	}
	var failed, ext C.int
	rc := C.ledger_exec_rows(r.st, &r.vals[0], C.int(r.ncol), C.int(n), text,
		&failed, &ext, (*C.char)(unsafe.Pointer(&r.msg[0])), C.int(len(r.msg)))
	r.vals, r.text = r.vals[:0], r.text[:0]
	if rc == 0 {
		return 0, nil
	}
	msg := C.GoString((*C.char)(unsafe.Pointer(&r.msg[0])))
	return int(failed), &sqliteError{Code: int(rc), ExtendedCode: int(ext), msg: msg}
}

// discard empties the batch without executing it.
func (r *sqliteRows) discard() { r.vals, r.text = r.vals[:0], r.text[:0] }

// free hands the batch's buffers back for reuse; r is not used afterwards.
// The statement itself is the driver's (closed with it).
func (r *sqliteRows) free() {
	if r == nil || r.rowsBuffers == nil {
		return
	}
	b := r.rowsBuffers
	r.rowsBuffers = nil
	if cap(b.text) <= rowsBuffersKeep && cap(b.vals) <= rowsBuffersKeep/16 {
		b.vals, b.text = b.vals[:0], b.text[:0]
		rowsBuffersPool.Put(b)
	}
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
func execRows(fast *sqliteRows, order []int, row func(i int) []driver.NamedValue) (int, error) {
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
