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
