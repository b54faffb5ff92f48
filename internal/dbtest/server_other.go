//go:build !linux

package dbtest

import (
	"errors"
	"syscall"
)

const serverDirPrefix = "reconcile-pg-"

type server struct{}

func (*server) stop() {}

func lookupUser(string) (*syscall.Credential, error) {
	return nil, errors.New("running as root: only supported on Linux")
}

func startPostmaster(string, string, *syscall.Credential) (*server, error) {
	return nil, errors.New("the throwaway PostgreSQL server is only supported on Linux: set RECONCILE_TEST_PG")
}

func writeOwner(string) error { return nil }

func sweepStale() {}
