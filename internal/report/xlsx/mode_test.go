//go:build unix

package xlsx

import (
	"os"
	"testing"
)

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
