package job_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msp-reconcile/reconcile/internal/job"
	"github.com/msp-reconcile/reconcile/internal/report"
)

// reconciled fetches the base simulator's period and reconciles it.
func reconciled(t *testing.T) *job.Reconciliation {
	t.Helper()
	e := newEnv(t, baseConfig())
	run, err := e.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := job.Reconcile(context.Background(), e.store, run, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// previousOutputs puts an earlier close's files at the workbook and JSON
// paths of dir, for the tests that check a failure leaves them untouched.
func previousOutputs(t *testing.T, dir string) job.Outputs {
	t.Helper()
	out := job.Outputs{Workbook: filepath.Join(dir, "w.xlsx"), JSON: filepath.Join(dir, "s.json")}
	for _, p := range []string{out.Workbook, out.JSON} {
		if err := os.WriteFile(p, []byte("previous "+filepath.Base(p)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// onlyPrevious fails unless dir holds exactly the files previousOutputs
// wrote, unchanged: no temp file is left and nothing was renamed.
func onlyPrevious(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("files after the failure: %q, want only s.json and w.xlsx", names)
	}
	for _, name := range []string{"w.xlsx", "s.json"} {
		if got := string(readFile(t, filepath.Join(dir, name))); got != "previous "+name {
			t.Errorf("%s was replaced after the failure: %.40q", name, got)
		}
	}
}

// The JSON summary is written while the workbook renders. When it fails,
// neither file is replaced, no temp file stays, and the JSON's error is the
// one returned (not the cancelled workbook's), whether it fails while the
// workbook is still rendering or once the workbook waits to be renamed.
func TestWriteOutputsJSONFailureReplacesNeither(t *testing.T) {
	rec := reconciled(t)
	failure := errors.New("disk full (test)")
	for _, tc := range []struct {
		name  string
		delay time.Duration // before the JSON writer fails
	}{
		{"at once", 0},
		{"late", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var release chan struct{}
			if tc.delay > 0 {
				release = make(chan struct{})
				time.AfterFunc(tc.delay, func() { close(release) })
			}
			defer job.FailJSONSummary(failure, release)()
			dir := t.TempDir()
			out := previousOutputs(t, dir)
			err := job.WriteOutputs(context.Background(), rec, out)
			if !errors.Is(err, failure) {
				t.Fatalf("WriteOutputs = %v, want the JSON summary's error", err)
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("the error is the cancelled workbook's: %v", err)
			}
			onlyPrevious(t, dir)
		})
	}
}

// A workbook that cannot be written leaves the JSON summary's target as it
// was, and no temp file of it, although the summary was being written.
func TestWriteOutputsWorkbookFailureReplacesNeither(t *testing.T) {
	rec := reconciled(t)
	dir := t.TempDir()
	out := previousOutputs(t, dir)
	out.Workbook = filepath.Join(dir, "missing-dir", "w.xlsx")
	if err := job.WriteOutputs(context.Background(), rec, out); err == nil {
		t.Fatal("WriteOutputs into a missing directory succeeded")
	}
	onlyPrevious(t, dir) // s.json as it was, and no temp file of it
}

// Written beside the workbook, the JSON summary has the bytes WriteJSON
// gives, and both files replace the previous ones.
func TestWriteOutputsWritesBoth(t *testing.T) {
	rec := reconciled(t)
	dir := t.TempDir()
	out := previousOutputs(t, dir)
	if err := job.WriteOutputs(context.Background(), rec, out); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := rec.Result.WriteJSON(&want); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out.JSON); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("JSON summary: %d bytes differ from WriteJSON's %d", len(got), want.Len())
	}
	if book := readFile(t, out.Workbook); !bytes.HasPrefix(book, []byte("PK")) {
		t.Errorf("workbook is not a zip: %.20q", book)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 2 {
		t.Errorf("files: %v (%v), want only s.json and w.xlsx", entries, err)
	}
}
