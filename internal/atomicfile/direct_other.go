//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

var errNoDirect = errors.New("direct I/O is used on Linux only")

func setDirect(*os.File, bool) error { return errNoDirect }

func directAlloc(int) ([]byte, error) { return nil, errNoDirect }

func directFree([]byte) {}
