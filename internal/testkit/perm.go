package testkit

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// NewFilePerm is the mode a file created with 0666 in dir gets: 0666
// filtered by the process umask (and a default ACL), which is what a new
// report must get.
func NewFilePerm(tb testing.TB, dir string) fs.FileMode {
	tb.Helper()
	p := filepath.Join(dir, "probe-perm")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		tb.Fatal(err)
	}
	fi, err := f.Stat()
	_ = f.Close()
	_ = os.Remove(p)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}
