package ledger

import (
	"os"

	"golang.org/x/sys/unix"
)

const writebackSupported = true

// startFileWriteback asks the kernel to start writing the dirty pages of the
// file at path to disk. A missing file (the WAL is created by the first
// write and removed when the last connection closes) and any error are
// ignored: nothing depends on it but the time the next fsync takes.
func startFileWriteback(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
	_ = f.Close()
}
