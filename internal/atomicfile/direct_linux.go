package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setDirect turns O_DIRECT on or off for f (fcntl F_SETFL). Turning it on
// fails on a file system that does not take direct I/O.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	cerr := rc.Control(func(fd uintptr) {
		var flags int
		flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0)
		if ferr != nil {
			return
		}
		if on {
			flags |= unix.O_DIRECT
		} else {
			flags &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, flags)
	})
	return errors.Join(ferr, cerr)
}

// directAlloc returns a buffer of n bytes (a multiple of directAlign) whose
// address is a multiple of directAlign, as direct I/O needs, outside the Go
// heap (an anonymous mapping, released by directFree).
func directAlloc(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func directFree(b []byte) { _ = unix.Munmap(b) }
