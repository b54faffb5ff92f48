// Package atomicfile writes files so that a reader sees either the old
// content or the complete new one, never a part: the data goes to a
// temporary file ".<name>-<digits>.tmp" in the target's folder, which is
// synced, given its final mode and renamed over the target; then the folder
// is synced. A new file gets mode 0666 filtered by the process umask (and
// by a default ACL of the folder), as a file made by any Unix tool; a file
// that is replaced keeps its mode. The temporary file is 0600 (owner only)
// while it is written. On any error before the rename the temporary file is
// removed and the target is left as it was.
//
// A process killed mid-write leaves its temporary file (and scratch
// directories made with MkdirScratch) behind; CleanStale, called at startup
// before anything is written to the folder, removes them.
//
// The package imports nothing of the project.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"unsafe"
)

// Temporary names. createTemp and os.MkdirTemp put decimal digits before
// the suffix, which CleanStale relies on.
const (
	tmpSuffix    = ".tmp"
	scratchInfix = "-scratch-"
)

var (
	// staleTempFile matches ".<name>-<digits>.tmp", a File's temp file.
	staleTempFile = regexp.MustCompile(`^\..+-[0-9]+\.tmp$`)
	// staleScratchDir matches ".<name>-scratch-<digits>.tmp", a scratch
	// directory made by MkdirScratch.
	staleScratchDir = regexp.MustCompile(`^\..+-scratch-[0-9]+\.tmp$`)
)

// NewFilePerm is the permission a new file is asked for; the kernel filters
// it by the umask (022 gives 0644, 077 gives 0600), as for a file made by
// any Unix tool. It is never forced: a stricter umask is honoured.
const NewFilePerm fs.FileMode = 0o666

// tempPerm is the permission of a temp file while it is written.
const tempPerm fs.FileMode = 0o600

// File is a file being written as a temp file ".<name>-*.tmp" beside its
// final path. Write to it, then Finish, then Commit; Abort on any error (it
// is a no-op after Commit).
type File struct {
	path      string
	f         *os.File
	mode      fs.FileMode
	closed    bool
	committed bool

	written   int64             // bytes written so far
	submitted int64             // bytes handed to the kernel's writeback (writeAhead)
	dbuf      []byte            // Direct: the buffer being filled (nil: not direct)
	spare     []byte            // Direct: the other buffer, when no write is in flight
	pending   bool              // Direct: a write is in flight
	inflight  chan directResult // Direct: its buffer and error, when it is done
	err       error             // Direct: the first write error
}

// directResult is what a direct write in flight gives back.
type directResult struct {
	buf []byte
	err error
}

// Create creates the temp file of path, mode 0600. A file that is replaced
// keeps its mode; a new file gets NewFilePerm filtered by the umask.
// path, when it exists, must be a regular file.
//
// How the umask is learnt: syscall.Umask can only be read by setting it,
// which is process-global and races with every other goroutine creating a
// file. Instead the temp file of a new file is itself the probe: it is
// created empty with NewFilePerm (O_EXCL), so the kernel applies the umask
// (and a default ACL of the folder, which the umask cannot tell); its mode is
// read back with fstat and it is narrowed to 0600 before a byte is written.
// Finish gives it the learnt mode. While the probe is empty its mode is the
// final file's, so it shows nothing the final file will not. A file that is
// replaced needs no probe: its temp file is created 0600 from the start.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return nil, errors.New("not a regular file")
		}
		f, err := createTemp(dir, base, tempPerm)
		if err != nil {
			return nil, err
		}
		return &File{path: path, f: f, mode: fi.Mode().Perm()}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	f, err := createTemp(dir, base, NewFilePerm)
	if err != nil {
		return nil, err
	}
	a := &File{path: path, f: f}
	st, err := f.Stat()
	if err == nil {
		a.mode = st.Mode().Perm()
		err = f.Chmod(tempPerm)
	}
	if err != nil {
		a.Abort()
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	return a, nil
}

// createTemp creates ".<base>-<digits>.tmp" in dir with O_EXCL and perm
// (before the umask), as os.CreateTemp does with 0600.
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, "."+base+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10)+tmpSuffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && try < 10000 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create temp file: %w", err)
		}
		return f, nil
	}
}

// writeAheadChunk is how many written bytes make File.Write ask the kernel
// to start writing them to disk (writeAhead): a large report then has only
// its last chunk left to write when Finish syncs it.
const writeAheadChunk = 8 << 20

// Write writes to the temp file. Every writeAheadChunk bytes it asks the
// kernel to start writing them out (Linux; elsewhere nothing), so that
// Finish's fsync does not wait for the whole file to reach the disk: the
// writes overlap with producing the rest of the file instead. Asking is
// advisory; an I/O error still surfaces at Finish. A Direct file gathers
// the bytes in its buffer and writes it whole.
func (a *File) Write(p []byte) (int, error) {
	if a.dbuf != nil {
		return a.writeDirect(p)
	}
	n, err := a.f.Write(p)
	a.written += int64(n)
	if a.written-a.submitted >= writeAheadChunk {
		_ = writeAhead(a.f, a.submitted, a.written-a.submitted) // advisory: see writeAhead
		a.submitted = a.written
	}
	return n, err
}

// Direct I/O. A report of hundreds of MB written through the page cache
// costs the kernel a copy of every byte into page-cache pages, which the
// process never reads back; written with O_DIRECT the disk takes the bytes
// from the process's buffer. directChunk is each such write, and
// directAlign the alignment direct I/O needs of a write's address, offset
// and length (the logical block size of any disk up to 4 KiB sectors).
const (
	directChunk = 512 << 10
	directAlign = 4096
)

// Direct makes the File write to the disk without the page cache (O_DIRECT,
// Linux), through two aligned buffers of directChunk bytes: one is written
// (on a goroutine: a direct write waits for the disk) while Write fills the
// other. The last part of the file that does not fill a directAlign block is
// written through the page cache by Finish. Call it before the first Write.
// It reports whether direct writes are on: where the file system does not
// take them (or elsewhere than Linux) the File goes on as before. The
// durability is Finish's fsync, as without it.
func (a *File) Direct() bool {
	if a.dbuf != nil || a.written > 0 {
		return a.dbuf != nil
	}
	if err := setDirect(a.f, true); err != nil {
		return false
	}
	a.dbuf = directAlloc(directChunk)[:0]
	a.spare = directAlloc(directChunk)[:0]
	a.inflight = make(chan directResult, 1)
	return true
}

// directAlloc returns a buffer of n bytes whose address is a multiple of
// directAlign, as direct I/O needs (from the Go heap, which does not move
// it; a large allocation starts on a page already, so the slack is rarely
// used).
func directAlloc(n int) []byte {
	b := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1)); r != 0 {
		off = directAlign - r
	}
	return b[off : off+n : off+n]
}

// writeDirect gathers p into the buffer being filled; a full one is
// written on a goroutine while the other is filled.
func (a *File) writeDirect(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && a.err == nil {
		c := copy(a.dbuf[len(a.dbuf):cap(a.dbuf)], p)
		a.dbuf, p, n = a.dbuf[:len(a.dbuf)+c], p[c:], n+c
		if len(a.dbuf) == cap(a.dbuf) {
			if a.err = a.waitDirect(); a.err != nil {
				break
			}
			full := a.dbuf
			a.dbuf, a.spare, a.pending = a.spare[:0], nil, true
			go func() { a.inflight <- directResult{full, a.writeAligned(full)} }()
		}
	}
	return n, a.err
}

// waitDirect waits for the write in flight, if any, takes its buffer back
// and returns its error. While a write is in flight only its goroutine uses
// the file and a.written; the channel orders what it did before what
// follows.
func (a *File) waitDirect() error {
	if !a.pending {
		return nil
	}
	r := <-a.inflight
	a.spare, a.pending = r.buf, false
	return r.err
}

// writeAligned writes b (its length a multiple of directAlign) with direct
// I/O. When the write fails (a file system that takes O_DIRECT but refuses
// the write: EINVAL for a larger block size, or any other reason), direct
// I/O is turned off and what was not written goes through the page cache: a
// real write error (a full disk, say) fails that write too and is returned.
func (a *File) writeAligned(b []byte) error {
	n, err := a.f.Write(b)
	a.written += int64(n)
	if err != nil {
		if err = setDirect(a.f, false); err == nil {
			n, err = a.f.Write(b[n:])
			a.written += int64(n)
		}
	}
	return err
}

// finishDirect waits for the write in flight and writes what the buffer
// holds (its whole blocks directly, the rest through the page cache).
func (a *File) finishDirect() error {
	if a.dbuf == nil {
		return nil
	}
	if err := a.waitDirect(); a.err == nil {
		a.err = err
	}
	b := a.dbuf
	a.dbuf, a.spare = nil, nil
	if a.err != nil {
		return a.err
	}
	if k := len(b) &^ (directAlign - 1); k > 0 {
		if err := a.writeAligned(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	if err := setDirect(a.f, false); err != nil {
		return fmt.Errorf("end direct writes: %w", err)
	}
	n, err := a.f.Write(b)
	a.written += int64(n)
	return err
}

// Finish sets the mode, syncs and closes the temp file.
func (a *File) Finish() error {
	if err := a.finishDirect(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := a.f.Chmod(a.mode); err != nil {
		return err
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	a.closed = true
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Commit renames the finished temp file over the path. The folder still
// needs a SyncDir for the rename to be durable.
func (a *File) Commit() error {
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	a.committed = true
	return nil
}

// Abort removes the temp file unless it was committed.
func (a *File) Abort() {
	if a.committed {
		return
	}
	if a.dbuf != nil {
		_ = a.waitDirect() // the file is removed: its error does not matter
		a.dbuf, a.spare = nil, nil
	}
	if !a.closed {
		_ = a.f.Close()
	}
	_ = os.Remove(a.f.Name())
}

// SyncDir fsyncs a folder, making the renames in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Write writes one file atomically: Create, write, Finish, Commit, SyncDir.
// On an error before the rename, path is left as it was.
func Write(path string, write func(io.Writer) error) (err error) {
	a, err := Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			a.Abort()
		}
	}()
	if err := write(a); err != nil {
		return err
	}
	if err := a.Finish(); err != nil {
		return err
	}
	if err := a.Commit(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := SyncDir(dir); err != nil {
		// The file is in place; only its durability is in doubt.
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// MkdirScratch creates a private scratch directory
// ".<label>-scratch-<digits>.tmp" in dir, mode 0700 (os.MkdirTemp), which
// CleanStale recognises. Files made in it with os.CreateTemp are 0600.
func MkdirScratch(dir, label string) (string, error) {
	return os.MkdirTemp(dir, "."+label+scratchInfix+"*"+tmpSuffix)
}

// CleanStale removes what a killed writer left in dir: temp files
// ".<name>-<digits>.tmp" and scratch directories
// ".<name>-scratch-<digits>.tmp". Call it at startup, before any file is
// written to dir (it would also remove a concurrent writer's temp files). A
// missing dir is not an error.
func CleanStale(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean stale temp files in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case e.IsDir() && staleScratchDir.MatchString(name):
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		case e.Type().IsRegular() && staleTempFile.MatchString(name):
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean stale temp files in %s: %w", dir, err)
	}
	return nil
}
