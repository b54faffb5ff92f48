package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// writeAhead starts the kernel's writeback of n bytes of f at off
// (sync_file_range with SYNC_FILE_RANGE_WRITE: it does not wait for the
// writes, and it makes nothing durable by itself; Finish's fsync does).
// File.Write ignores its error: the data is still in the page cache, and a
// real I/O error is reported by that fsync. The error is returned for the
// tests.
func writeAhead(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) {
		err = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
	return errors.Join(err, cerr)
}
