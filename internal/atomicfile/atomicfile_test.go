package atomicfile

import (
	"bytes"
	"errors"
	"github.com/msp-reconcile/reconcile/internal/testkit"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := testkit.NewFilePerm(t, dir); fi.Mode().Perm() != want {
		t.Errorf("new file mode = %v, want %v (0666 filtered by the umask)", fi.Mode().Perm(), want)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "two"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Errorf("content = %q, want two", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode = %v, want 0600 kept", fi.Mode().Perm())
	}

	// A failing write leaves the old file and no temp file.
	boom := errors.New("boom")
	err = Write(path, func(w io.Writer) error { _, _ = io.WriteString(w, "partial"); return boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, []byte("two")) {
		t.Errorf("after a failed write: %q, want the old content", got)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"summary.json"}) {
		t.Errorf("dir holds %q, want only the file", got)
	}

	// A folder in the way is not replaced.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(sub, func(io.Writer) error { return nil }); err == nil {
		t.Error("Write over a directory succeeded")
	}
}

func TestAbortAfterCommitKeepsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.xlsx")
	a := mustCreate(t, path)
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	a.Abort()
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"r.xlsx"}) {
		t.Errorf("dir holds %q", got)
	}
}

func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".recon.xlsx-123456.tmp", ".other report.xlsx-9.tmp"}
	keep := []string{"recon.xlsx", ".recon.xlsx-abc.tmp", "x-123.tmp", ".recon.xlsx-123.tmp.bak", "notes.txt"}
	for _, n := range append(slices.Clone(stale), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scratch := filepath.Join(dir, ".recon.xlsx-scratch-42.tmp")
	if err := os.MkdirAll(filepath.Join(scratch, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "excelize-1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherDir := filepath.Join(dir, ".data-77.tmp") // a directory without the scratch infix stays
	if err := os.Mkdir(otherDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CleanStale(dir); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(keep), ".data-77.tmp")
	slices.Sort(want)
	if got := dirEntries(t, dir); !slices.Equal(got, want) {
		t.Errorf("after CleanStale: %q, want %q", got, want)
	}
	if err := CleanStale(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing dir: %v", err)
	}

	// What a real failed run could leave behind is recognised.
	d2 := t.TempDir()
	for _, n := range []string{".r.xlsx-1.tmp"} {
		if err := os.WriteFile(filepath.Join(d2, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := MkdirScratch(d2, "r.xlsx"); err != nil {
		t.Fatal(err)
	} else if !staleScratchDir.MatchString(filepath.Base(s)) {
		t.Errorf("scratch dir %q does not match the stale pattern", s)
	}
	tmp, err := os.CreateTemp(d2, ".r.xlsx-*"+tmpSuffix)
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	if err := CleanStale(d2); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, d2); len(got) != 0 {
		t.Errorf("left %q", got)
	}
}

// TestWriteAheadInChunks: a large file is handed to the kernel's writeback
// every writeAheadChunk bytes as it is written, and arrives whole.
func TestWriteAheadInChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.xlsx")
	a := mustCreate(t, path)
	defer a.Abort()
	var want bytes.Buffer
	block := make([]byte, 1<<20+13) // not a divisor of the chunk
	for i := 0; i < 20; i++ {
		for j := range block {
			block[j] = byte(i + j)
		}
		want.Write(block)
		if _, err := a.Write(block); err != nil {
			t.Fatal(err)
		}
		if a.written-a.submitted >= writeAheadChunk {
			t.Fatalf("after %d bytes, %d are not handed to writeback, want fewer than %d", a.written, a.written-a.submitted, writeAheadChunk)
		}
	}
	// The kernel accepts the range handed over (File.Write ignores the
	// error; the test does not).
	if err := writeAhead(a.f, a.submitted, a.written-a.submitted); err != nil {
		t.Errorf("writeback of bytes %d..%d: %v", a.submitted, a.written, err)
	}
	if a.written != int64(want.Len()) || a.submitted < 2*writeAheadChunk {
		t.Errorf("written %d, handed to writeback %d; want %d and at least %d", a.written, a.submitted, want.Len(), 2*writeAheadChunk)
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("file content differs from what was written")
	}
}
