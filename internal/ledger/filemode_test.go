//go:build unix

package ledger

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/msp-reconcile/reconcile/internal/dbtest"
)

// withUmask sets the process umask for the rest of the test. The umask is
// process-wide: no test of this package runs in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// A new ledger and the -wal and -shm files SQLite makes beside it are 0600
// whatever the umask, and get no warning.
func TestNewLedgerIsOwnerOnly(t *testing.T) {
	dbtest.SQLiteOnly(t) // file modes
	for _, umask := range []int{0o022, 0o077, 0o002, 0} {
		t.Run(fmt.Sprintf("umask%04o", umask), func(t *testing.T) {
			withUmask(t, umask)
			path := filepath.Join(t.TempDir(), "reconcile.db")
			s := mustOpenPath(t, path, Options{})
			mustBeginRun(t, s) // a write: the WAL holds it until a checkpoint
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if got := perm(t, p); got != FilePerm {
					t.Errorf("%s: mode %v, want %v", filepath.Base(p), got, FilePerm)
				}
			}
			if w := ModeWarning(path); w != "" {
				t.Errorf("warning for a new ledger: %s", w)
			}
		})
	}
}

// An existing ledger keeps its mode; one that group or others can read gets
// a warning naming every loose file and the chmod that fixes it, and is
// still used.
func TestExistingLooseLedgerWarns(t *testing.T) {
	dbtest.SQLiteOnly(t) // file modes
	withUmask(t, 0o022)
	dir := t.TempDir()
	path := filepath.Join(dir, "my books.db")
	s := mustOpenPath(t, path, Options{})
	mustBeginRun(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := ModeWarning(path); !strings.Contains(w, path+" 0644") || !strings.Contains(w, "chmod 600 '"+path+"'") {
		t.Errorf("warning = %q, want the file, its mode and the chmod", w)
	}

	// Still used, read-write: SQLite's new WAL and SHM take the ledger's
	// (loose) mode, and the warning lists them too.
	s = mustOpenPath(t, path, Options{})
	mustBeginRun(t, s)
	if got := perm(t, path); got != 0o644 {
		t.Errorf("opening changed the ledger's mode to %v", got)
	}
	w := ModeWarning(path)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if !strings.Contains(w, "'"+p+"'") {
			t.Errorf("warning %q does not name %s", w, p)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Read-only too.
	ro, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a loose ledger: %v", err)
	}
	_ = ro.Close()

	// Fixed: no warning.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if w := ModeWarning(path); w != "" {
		t.Errorf("warning after chmod 600: %s", w)
	}
	// Group-readable only is loose too; a missing ledger is not.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if w := ModeWarning(path); !strings.Contains(w, "0640") {
		t.Errorf("no warning for a 0640 ledger: %q", w)
	}
	if w := ModeWarning(filepath.Join(dir, "none.db")); w != "" {
		t.Errorf("warning for a missing ledger: %s", w)
	}
}

// Open does not create a ledger in a folder that does not exist, and
// leaves nothing behind when it cannot.
func TestOpenMissingFolder(t *testing.T) {
	dbtest.SQLiteOnly(t) // file modes
	path := filepath.Join(t.TempDir(), "no", "reconcile.db")
	if s, err := Open(context.Background(), path, Options{}); err == nil {
		_ = s.Close()
		t.Fatal("opened a ledger in a missing folder")
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the ledger", err)
	}
}

func TestShellQuote(t *testing.T) {
	dbtest.SQLiteOnly(t) // file modes
	for in, want := range map[string]string{
		"/var/lib/reconcile/reconcile.db": "/var/lib/reconcile/reconcile.db",
		"my books.db":                     "'my books.db'",
		"it's.db":                         `'it'\''s.db'`,
		"$HOME.db":                        "'$HOME.db'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
