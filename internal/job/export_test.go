package job

import (
	"bytes"
	"errors"
	"io"
	"os"

	"github.com/msp-reconcile/reconcile/internal/billing"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// CommitmentsSpooled reports whether rec's Commitments sheet reads its rows
// from a spool (spool.go) rather than from the ledger.
func CommitmentsSpooled(rec *Reconciliation) bool {
	if rec.Result.Subscriptions == nil {
		return false
	}
	_, ok := rec.Result.Subscriptions.Commitments.Rows.(*spooledRows)
	return ok
}

// SetSpoolDir makes the spools be created in dir; the returned function
// restores the default.
func SetSpoolDir(dir string) func() {
	old := spoolDir
	spoolDir = dir
	return func() { spoolDir = old }
}

// FetchOrder is the order the fan-out fetches customers in (indexes into
// customers).
func FetchOrder(customers []billing.Customer) []int { return fetchOrder(customers) }

// FailSpoolWrites makes the spools' writes fail (once their buffer is
// written out); the returned function restores them.
func FailSpoolWrites() func() {
	old := spoolWriter
	spoolWriter = func(*os.File) io.Writer { return failingWriter{} }
	return func() { spoolWriter = old }
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("test: spool write failed") }

// FailJSONSummary makes WriteOutputs' JSON summary fail with err after
// writing half of it, once release is closed (nil: at once); the returned
// function restores the writer.
func FailJSONSummary(err error, release <-chan struct{}) func() {
	old := writeJSONSummary
	writeJSONSummary = func(r *report.Result, w io.Writer) error {
		var b bytes.Buffer
		if werr := old(r, &b); werr != nil {
			return werr
		}
		if _, werr := w.Write(b.Bytes()[:b.Len()/2]); werr != nil {
			return werr
		}
		if release != nil {
			<-release
		}
		return err
	}
	return func() { writeJSONSummary = old }
}
