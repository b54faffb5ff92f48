package main

import (
	"fmt"
	"io"

	"github.com/msp-reconcile/reconcile/internal/ledger"
)

// warnLedgerMode prints a warning on stderr when group or others can read
// the ledger at path (or its -wal/-shm files). The ledger is still used: the
// warning says which chmod fixes it, as for a loose secret file.
func warnLedgerMode(stderr io.Writer, target string) {
	path, isFile := ledger.SQLitePath(target)
	if !isFile {
		return // PostgreSQL: access is the server's business
	}
	if w := ledger.ModeWarning(path); w != "" {
		fmt.Fprintf(stderr, "reconcile: warning: %s\n", w)
	}
}
