package ledger

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// SQLite's API (sqlite3.c, compiled into the binary by
// github.com/mattn/go-sqlite3).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_bind_int64(sqlite3_stmt*, int, long long);
extern int sqlite3_step(sqlite3_stmt*);
extern int sqlite3_reset(sqlite3_stmt*);
extern int sqlite3_clear_bindings(sqlite3_stmt*);
extern int sqlite3_bind_parameter_count(sqlite3_stmt*);
extern int sqlite3_column_count(sqlite3_stmt*);
extern int sqlite3_column_type(sqlite3_stmt*, int);
extern long long sqlite3_column_int64(sqlite3_stmt*, int);
extern const unsigned char *sqlite3_column_text(sqlite3_stmt*, int);
extern const void *sqlite3_column_blob(sqlite3_stmt*, int);
extern int sqlite3_column_bytes(sqlite3_stmt*, int);
extern sqlite3 *sqlite3_db_handle(sqlite3_stmt*);
extern int sqlite3_extended_errcode(sqlite3*);
extern const char *sqlite3_errmsg(sqlite3*);

// One column of a read row: n >= 0 the n bytes of text at offset off of
// the batch's text; n == -1 NULL; n == -2 the integer i; n == -3 another
// type (a float), which the ledger's reads do not return.
typedef struct {
	int64_t i;
	int32_t off;
	int32_t n;
} ledger_col;

// A batch of read rows: cols (maxrows * ncol), the texts of row r at
// text[starts[r]:starts[r+1]] (starts has maxrows + 1 entries), the text
// buffer realloc'd as needed (textcap bytes).
typedef struct {
	ledger_col *cols;
	int32_t *starts;
	char *text;
	int64_t textcap;
	int nrows;
	int ext;
	char msg[512];
} ledger_batch;

// ledger_read_rows steps st up to maxrows times and copies each row's ncol
// columns into b: texts and blobs (their bytes, NUL bytes included) one
// after the other in b->text. It returns SQLITE_ROW (100) when it filled
// the batch (more rows may follow), SQLITE_DONE (101) at the end, else the
// error code (b->ext and b->msg then hold the extended code and the
// connection's message; SQLITE_NOMEM when the text buffer cannot grow);
// b->nrows rows were read before either.
static int ledger_read_rows(sqlite3_stmt *st, int ncol, int maxrows, ledger_batch *b) {
	int64_t used = 0;
	b->nrows = 0;
	b->starts[0] = 0;
	for (int r = 0; r < maxrows; r++) {
		int rc = sqlite3_step(st);
		if (rc == 101) {
			return rc;
		}
		if (rc != 100) {
			sqlite3 *db = sqlite3_db_handle(st);
			b->ext = sqlite3_extended_errcode(db);
			strncpy(b->msg, sqlite3_errmsg(db), sizeof b->msg - 1);
			b->msg[sizeof b->msg - 1] = 0;
			return rc;
		}
		ledger_col *row = b->cols + (size_t)r * ncol;
		for (int c = 0; c < ncol; c++) {
			const void *p = 0;
			int n = 0;
			row[c].i = 0;
			row[c].off = (int32_t)used;
			switch (sqlite3_column_type(st, c)) {
			case 1: // SQLITE_INTEGER
				row[c].i = sqlite3_column_int64(st, c);
				row[c].n = -2;
				continue;
			case 2: // SQLITE_FLOAT
				row[c].n = -3;
				continue;
			case 3: // SQLITE_TEXT
				p = sqlite3_column_text(st, c);
				n = sqlite3_column_bytes(st, c);
				break;
			case 4: // SQLITE_BLOB
				p = sqlite3_column_blob(st, c);
				n = sqlite3_column_bytes(st, c);
				break;
			default: // SQLITE_NULL
				row[c].n = -1;
				continue;
			}
			if (p == 0 && n > 0) { // out of memory converting the value
				b->ext = 7;
				strcpy(b->msg, "out of memory");
				return 7;
			}
			if (used + n > b->textcap) {
				int64_t c2 = b->textcap * 2;
				if (c2 < used + n) {
					c2 = used + n;
				}
				if (c2 < 64 << 10) {
					c2 = 64 << 10;
				}
				char *t = c2 > 0x7fffffff ? 0 : realloc(b->text, (size_t)c2);
				if (t == 0) {
					b->ext = 7;
					strcpy(b->msg, "out of memory for a batch of read rows");
					return 7;
				}
				b->text = t;
				b->textcap = c2;
			}
			if (n > 0) {
				memcpy(b->text + used, p, (size_t)n);
			}
			row[c].n = n;
			used += n;
		}
		b->starts[r + 1] = (int32_t)used;
		b->nrows = r + 1;
	}
	return 100;
}

// ledger_start_read resets st, binds its one parameter to arg and clears
// the message of a previous batch.
static int ledger_start_read(sqlite3_stmt *st, int64_t arg) {
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return sqlite3_bind_int64(st, 1, arg);
}

// ledger_end_read leaves st as the driver left it: reset, no bindings.
static void ledger_end_read(sqlite3_stmt *st) {
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

extern int sqlite3_file_control(sqlite3*, const char*, int, void*);

// The start of SQLite's unixFile (os_unix.c, the "unix" VFS of Linux and
// macOS builds): its methods, its VFS, its inode record, then the file
// descriptor. The layout has been the same since SQLite 3.7; the caller
// still checks the descriptor is the database file's before using it.
typedef struct {
	const void *pMethods;
	void *pVfs;
	void *pInode;
	int h;
} ledger_unix_file;

// ledger_db_fd returns the file descriptor through which db reads and
// writes its main database file, or -1 (SQLITE_FCNTL_FILE_POINTER is 7).
static int ledger_db_fd(sqlite3 *db) {
	ledger_unix_file *f = 0;
	if (sqlite3_file_control(db, "main", 7, &f) != 0 || f == 0 || f->pMethods == 0) {
		return -1;
	}
	return f->h;
}
*/
import "C"

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"unsafe"
)

// Reads of many rows in C batches (the read side of sqliterows.go). Through
// go-sqlite3 every row of a statement costs a cgo call and, per column, a
// Go string of its own and its boxing into a driver.Value (eachStored
// then type-asserts it back). sqliteReader steps the statement up to
// sqliteReadBatch rows per cgo call, copying the columns of the batch into
// one C buffer (texts one after the other, each column an offset, a length
// or a NULL/integer mark); Go then makes one string per row, of all its
// texts, and hands the columns on as substrings of it, unboxed
// (storedCol). The strings are Go memory, never reused: a caller may keep
// them (a kept column keeps its row's texts alive, no more, as the row's
// detail column did before).
//
// The statement is go-sqlite3's, prepared on a connection of the reader's
// own (eachStored), reached by reflection as sqliteRowsFor does: when
// go-sqlite3 changed so that it cannot be reached, the read goes through the
// driver (TestSQLiteReadsReachTheStatements fails then).

// colKind is what a read column holds.
type colKind uint8

const (
	colNull  colKind = iota // NULL
	colText                 // a text (or a blob's bytes)
	colInt                  // an integer
	colOther                // another type (a float): read as NULL
)

// storedCol is one column of a read row, unboxed.
type storedCol struct {
	s    string
	i    int64
	kind colKind
}

// text is a NOT NULL text column's value ("" for NULL or an integer, which
// the schema does not allow in the columns read so).
func (c storedCol) text() string { return c.s }

// nullText is a nullable text column's value (NULL for a non-text value).
func (c storedCol) nullText() sql.NullString {
	return sql.NullString{String: c.s, Valid: c.kind == colText}
}

// storedColOf is v (a driver.Value of go-sqlite3 or a scanned NullString's)
// as a storedCol.
func storedColOf(v driver.Value) storedCol {
	switch x := v.(type) {
	case string:
		return storedCol{s: x, kind: colText}
	case []byte:
		return storedCol{s: string(x), kind: colText}
	case int64:
		return storedCol{i: x, kind: colInt}
	case nil:
		return storedCol{}
	default:
		return storedCol{kind: colOther}
	}
}

// sqliteReadBatch is the most rows sqliteReader steps in one cgo call.
const sqliteReadBatch = 256

// sqliteStmtOf is go-sqlite3's statement under stmt (a *sqlite3.SQLiteStmt);
// false when stmt is not one or it cannot be reached. The batched reads and
// the batched inserts (sqliteRowsFor) both reach it here.
func sqliteStmtOf(stmt any) (*C.sqlite3_stmt, bool) {
	v := reflect.ValueOf(stmt)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct ||
		v.Elem().Type().String() != "sqlite3.SQLiteStmt" {
		return nil, false
	}
	f := v.Elem().FieldByName("s")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem().Name() != "_Ctype_struct_sqlite3_stmt" || f.IsNil() {
		return nil, false
	}
	return (*C.sqlite3_stmt)(f.UnsafePointer()), true
}

// sqliteFileDescriptor returns the file descriptor of the main database
// file of dc, a go-sqlite3 connection (what sql.Conn.Raw passes), as SQLite
// holds it: valid while that connection is open, and never to be closed
// by the caller. false when dc is not one, or its file is not reachable
// (the caller must still check the descriptor's file is the ledger's).
func sqliteFileDescriptor(dc any) (int, bool) {
	v := reflect.ValueOf(dc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct ||
		v.Elem().Type().String() != "sqlite3.SQLiteConn" {
		return 0, false
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem().Name() != "_Ctype_struct_sqlite3" || f.IsNil() {
		return 0, false
	}
	fd := int(C.ledger_db_fd((*C.sqlite3)(f.UnsafePointer())))
	return fd, fd >= 0
}

// sqliteReader reads the rows of one prepared statement in batches.
type sqliteReader struct {
	st   *C.sqlite3_stmt
	ncol int
	b    *C.ledger_batch // C memory, with its arrays
}

// sqliteReaderFor returns the batch reader of stmt, a go-sqlite3 query with
// one parameter and ncol columns; false when stmt is not one (PostgreSQL)
// or cannot be reached. The reader must be closed.
func sqliteReaderFor(stmt any, ncol int) (*sqliteReader, bool) {
	st, ok := sqliteStmtOf(stmt)
	if !ok || ncol <= 0 || int(C.sqlite3_bind_parameter_count(st)) != 1 || int(C.sqlite3_column_count(st)) != ncol {
		return nil, false
	}
	b := (*C.ledger_batch)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ledger_batch{}))))
	b.cols = (*C.ledger_col)(C.malloc(C.size_t(sqliteReadBatch*ncol) * C.size_t(unsafe.Sizeof(C.ledger_col{}))))
	b.starts = (*C.int32_t)(C.malloc(C.size_t(sqliteReadBatch+1) * C.size_t(unsafe.Sizeof(C.int32_t(0)))))
	if b.cols == nil || b.starts == nil {
		C.free(unsafe.Pointer(b.cols))
		C.free(unsafe.Pointer(b.starts))
		C.free(unsafe.Pointer(b))
		return nil, false
	}
	return &sqliteReader{st: st, ncol: ncol, b: b}, true
}

// close frees the reader's buffers (the statement is the driver's).
func (r *sqliteReader) close() {
	if r == nil || r.b == nil {
		return
	}
	C.free(unsafe.Pointer(r.b.cols))
	C.free(unsafe.Pointer(r.b.starts))
	C.free(unsafe.Pointer(r.b.text))
	C.free(unsafe.Pointer(r.b))
	r.b = nil
}

// readMode is how a read hands out its rows (the zero value: as Go strings
// of their own).
type readMode struct {
	// lend makes a row's texts views of the reader's batch buffer instead
	// of copies: valid until batchEnd returns, then reused. Only a reader
	// that keeps nothing past that may ask for it (EachPayableView).
	lend bool
	// batchEnd, when set, is called once the rows of a batch were handed
	// out, before the next batch is read into the buffer (and after the
	// last), so that what a lending read still holds can be copied.
	batchEnd func()
}

// each runs the statement with arg and calls fn with each row's columns
// (the slice is reused; its strings are not). It checks ctx between
// batches. Errors of the statement are *readError; fn's are returned as
// they are. The statement is left reset, without bindings.
func (r *sqliteReader) each(ctx context.Context, arg int64, fn func([]storedCol) error) error {
	return r.eachMode(ctx, arg, readMode{}, fn)
}

// eachMode is each, handing the rows out as mode says.
func (r *sqliteReader) eachMode(ctx context.Context, arg int64, mode readMode, fn func([]storedCol) error) error {
	defer C.ledger_end_read(r.st)
	if rc := C.ledger_start_read(r.st, C.int64_t(arg)); rc != 0 {
		return &readError{fmt.Errorf("bind the query's parameter: sqlite error %d", int(rc))}
	}
	row := make([]storedCol, r.ncol)
	for {
		if err := ctx.Err(); err != nil {
			return &readError{err}
		}
		rc := C.ledger_read_rows(r.st, C.int(r.ncol), sqliteReadBatch, r.b)
		n := int(r.b.nrows)
		if n > 0 {
			cols := unsafe.Slice(r.b.cols, n*r.ncol)
			starts := unsafe.Slice(r.b.starts, n+1)
			text := unsafe.Slice((*byte)(unsafe.Pointer(r.b.text)), int(starts[n]))
			for k := range n {
				start, end := int(starts[k]), int(starts[k+1])
				var s string
				switch {
				case !mode.lend:
					s = string(text[start:end]) // the row's texts, in Go memory
				case end > start:
					s = unsafe.String(&text[start], end-start) // lent: valid until batchEnd
				}
				for c, col := range cols[k*r.ncol : (k+1)*r.ncol] {
					switch {
					case col.n >= 0:
						off := int(col.off) - start
						row[c] = storedCol{s: s[off : off+int(col.n)], kind: colText}
					case col.n == -1:
						row[c] = storedCol{}
					case col.n == -2:
						row[c] = storedCol{i: int64(col.i), kind: colInt}
					default:
						row[c] = storedCol{kind: colOther}
					}
				}
				if err := fn(row); err != nil {
					return err
				}
			}
		}
		if mode.batchEnd != nil {
			mode.batchEnd()
		}
		switch rc {
		case 100: // a full batch: more may follow
		case 101:
			return nil
		default:
			return &readError{&sqliteError{Code: int(rc), ExtendedCode: int(r.b.ext), msg: C.GoString(&r.b.msg[0])}}
		}
	}
}
