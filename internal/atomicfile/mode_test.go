//go:build unix

package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withUmask sets the process umask for the rest of the test. The umask is
// process-wide: no test of this package runs in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// tempFileModes returns the modes of the temp files ".*.tmp" in dir.
func tempFileModes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fs.FileMode{}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".tmp") {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = fi.Mode().Perm()
		}
	}
	return out
}

// A new file gets 0666 filtered by the umask, never a fixed mode: 0644 under
// umask 022, 0600 under 077. The temp file is 0600 while it is written in
// both cases, and a replaced file keeps its mode whatever the umask.
func TestNewFileModeFollowsUmask(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  fs.FileMode
	}{
		{0o022, 0o644},
		{0o077, 0o600},
		{0o027, 0o640},
		{0o002, 0o664},
	} {
		t.Run(fmt.Sprintf("umask%04o", tc.umask), func(t *testing.T) {
			withUmask(t, tc.umask)
			dir := t.TempDir()
			path := filepath.Join(dir, "close.json")
			var during map[string]fs.FileMode
			write := func(w io.Writer) error {
				during = tempFileModes(t, dir)
				_, err := io.WriteString(w, "{}")
				return err
			}
			if err := Write(path, write); err != nil {
				t.Fatal(err)
			}
			if len(during) != 1 {
				t.Fatalf("temp files while writing: %v, want one", during)
			}
			for name, m := range during {
				if m != tempPerm {
					t.Errorf("temp file %s is %v while written, want %v", name, m, tempPerm)
				}
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.want {
				t.Errorf("new file under umask %04o: mode %v, want %v", tc.umask, fi.Mode().Perm(), tc.want)
			}

			// A replaced file keeps its mode, looser or stricter than the umask's.
			for _, keep := range []fs.FileMode{0o600, 0o644, 0o640} {
				if err := os.Chmod(path, keep); err != nil {
					t.Fatal(err)
				}
				if err := Write(path, write); err != nil {
					t.Fatal(err)
				}
				for name, m := range during {
					if m != tempPerm {
						t.Errorf("temp file %s of a replacement is %v, want %v", name, m, tempPerm)
					}
				}
				if fi, _ := os.Stat(path); fi.Mode().Perm() != keep {
					t.Errorf("replaced %v file under umask %04o: mode %v, want it kept", keep, tc.umask, fi.Mode().Perm())
				}
			}
			if got := dirEntries(t, dir); len(got) != 1 {
				t.Errorf("dir holds %q, want only the file", got)
			}
		})
	}
}

// A scratch directory is 0700 whatever the umask.
func TestMkdirScratchIsPrivate(t *testing.T) {
	withUmask(t, 0)
	dir, err := MkdirScratch(t.TempDir(), "close.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("scratch dir mode %v, want 0700", fi.Mode().Perm())
	}
}
