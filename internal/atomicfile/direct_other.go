//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

func setDirect(*os.File, bool) error { return errors.New("direct I/O is used on Linux only") }
