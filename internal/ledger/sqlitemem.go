package ledger

/*
#include <stdint.h>
// SQLite's own memory statistics (sqlite3.c, compiled into the binary by
// github.com/mattn/go-sqlite3).
extern long long sqlite3_memory_used(void);
extern long long sqlite3_memory_highwater(int);
*/
import "C"

// SQLiteMemory returns the bytes SQLite holds now (page caches, statements,
// schema) and the most it has held since the process started, for all
// SQLite ledgers of the process together.
func SQLiteMemory() (used, peak int64) {
	return int64(C.sqlite3_memory_used()), int64(C.sqlite3_memory_highwater(0))
}
