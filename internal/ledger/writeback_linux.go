package ledger

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const writebackSupported = true

// startFileWriteback asks the kernel to start writing the dirty pages of the
// file at path to disk. The writeback ignores its error (a missing file:
// the WAL is created by the first write and removed when the last
// connection closes); nothing depends on it but the time the next fsync
// takes. The error is returned for the tests.
func startFileWriteback(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = startFDWriteback(int(fd)) })
		err = errors.Join(err, cerr)
	}
	return errors.Join(err, f.Close())
}

// startFDWriteback asks the kernel to start writing the dirty pages of the
// open file fd to disk (its error is ignored, as startFileWriteback's).
func startFDWriteback(fd int) error {
	return unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}

// sameFile reports whether the open descriptor fd is the file at path.
func sameFile(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
