//go:build unix

package xlsx

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// wbNewFilePerm is the mode a new file created with 0666 in dir gets: 0666
// filtered by the umask, which is what a new report must get.
func wbNewFilePerm(t *testing.T, dir string) fs.FileMode {
	t.Helper()
	p := filepath.Join(dir, "probe-perm")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	_ = f.Close()
	_ = os.Remove(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The scratch directory of excelize's and the zip spool's temporary files
// is private (0700; the files in it are made 0600 by os.CreateTemp).
func TestScratchDirIsPrivate(t *testing.T) {
	dir := t.TempDir()
	scratch, err := makeScratchDir(dir, "recon.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch) //nolint:errcheck // a test folder
	fi, err := os.Stat(scratch)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("scratch dir mode %v, want 0700", fi.Mode().Perm())
	}
}
