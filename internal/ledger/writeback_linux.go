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
		_ = rc.Control(func(fd uintptr) { startFDWriteback(int(fd)) })
	}
	_ = f.Close()
}

// startFDWriteback asks the kernel to start writing the dirty pages of the
// open file fd to disk; errors are ignored, as for startFileWriteback.
func startFDWriteback(fd int) {
	_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}

// sameFile reports whether the open descriptor fd is the file at path.
func sameFile(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
