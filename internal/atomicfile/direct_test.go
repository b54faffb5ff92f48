package atomicfile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/msp-reconcile/reconcile/internal/testkit"
)

// mustCreate is Create(path).
func mustCreate(tb testing.TB, path string) *File {
	tb.Helper()
	a, err := Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// directContent is n bytes of a pattern that shows a lost or moved block.
func directContent(n int) []byte {
	b := make([]byte, n)
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// TestDirect writes files of sizes around the block and buffer sizes with
// direct I/O, in pieces of every size, and reads them back whole, with the
// mode a new file gets.
func TestDirect(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, directAlign - 1, directAlign, directAlign + 1, directChunk - 1, directChunk,
		directChunk + 123, 3*directChunk + 5000} {
		path := filepath.Join(dir, "detail.csv")
		a := mustCreate(t, path)
		on := a.Direct()
		if runtime.GOOS == "linux" && !on {
			t.Logf("direct I/O is not taken in %s: the buffered path is tested", dir)
		}
		if a.Direct() != on {
			t.Errorf("a second Direct reports %v, want %v", !on, on)
		}
		want := directContent(size)
		rnd := rand.New(rand.NewPCG(uint64(size), 9))
		for p := want; len(p) > 0; {
			k := min(len(p), 1+rnd.IntN(3*directChunk/2))
			if n, err := a.Write(p[:k]); n != k || err != nil {
				t.Fatalf("size %d: Write = %d, %v", size, n, err)
			}
			p = p[k:]
		}
		if err := a.Finish(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d (direct %v): read back %d bytes that differ from the %d written", size, on, len(got), len(want))
		}
		if fi, _ := os.Stat(path); size == 0 && fi.Mode().Perm() != testkit.NewFilePerm(t, dir) {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), testkit.NewFilePerm(t, dir))
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirectAfterWrite: a File already written to stays buffered.
func TestDirectAfterWrite(t *testing.T) {
	a := mustCreate(t, filepath.Join(t.TempDir(), "x"))
	defer a.Abort()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if a.Direct() {
		t.Error("Direct after a Write reports true")
	}
}

// TestDirectRefused: a direct write the file system refuses (here an
// unaligned address: EINVAL) is written through the page cache, and the
// rest of the file too.
func TestDirectRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	a := mustCreate(t, path)
	if !a.Direct() {
		a.Abort()
		t.Skipf("direct I/O is not taken in %s", dir)
	}
	want := directContent(3 * directAlign)
	buf := directAlloc(4 * directAlign)
	unaligned := buf[1 : 1+2*directAlign]
	copy(unaligned, want)
	if err := a.writeAligned(unaligned); err != nil {
		t.Fatalf("refused direct write: %v", err)
	}
	if _, err := a.Write(want[2*directAlign:]); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("read back %d bytes that differ from the %d written", len(got), len(want))
	}
}

func TestDirectAlloc(t *testing.T) {
	for _, n := range []int{directAlign, directChunk, 3 * directAlign} {
		b := directAlloc(n)
		if len(b) != n || cap(b) != n || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign != 0 {
			t.Errorf("directAlloc(%d): len %d cap %d at %p", n, len(b), cap(b), unsafe.SliceData(b))
		}
	}
}

// TestDirectAbort: an aborted direct File leaves no temp file.
func TestDirectAbort(t *testing.T) {
	dir := t.TempDir()
	a := mustCreate(t, filepath.Join(dir, "x"))
	a.Direct()
	if _, err := a.Write(directContent(directChunk + 10)); err != nil {
		t.Fatal(err)
	}
	a.Abort()
	if es := dirEntries(t, dir); len(es) != 0 {
		t.Errorf("left %q", es)
	}
}

// TestDirectWriteError: a direct write that fails (here on a closed file)
// is returned by a later Write or by Finish, never lost, and Abort still
// removes the temp file.
func TestDirectWriteError(t *testing.T) {
	dir := t.TempDir()
	a := mustCreate(t, filepath.Join(dir, "x"))
	if !a.Direct() {
		a.Abort()
		t.Skipf("direct I/O is not taken in %s", dir)
	}
	if err := a.f.Close(); err != nil {
		t.Fatal(err)
	}
	p := directContent(directChunk)
	var werr error
	for i := 0; i < 3 && werr == nil; i++ {
		_, werr = a.Write(p)
	}
	ferr := a.Finish()
	if werr == nil && ferr == nil {
		t.Error("a failed direct write was not reported")
	}
	a.closed = true // closed above
	a.Abort()
	if es := dirEntries(t, dir); len(es) != 0 {
		t.Errorf("left %q", es)
	}
}
