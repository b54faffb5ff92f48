package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// FilePerm is the permission of a ledger file that Open creates: owner only,
// whatever the umask. SQLite gives the -wal and -shm files it creates beside
// the ledger the ledger's own permission, so they are 0600 too.
const FilePerm fs.FileMode = 0o600

// companions are the suffixes of the files SQLite keeps beside the ledger.
var companions = []string{"-wal", "-shm"}

// createFile creates the ledger file at path, empty and FilePerm, unless a
// file (or anything else) is already there. SQLite, left to create it, would
// use 0644 filtered by the umask: readable by every local account under the
// usual umask 022.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FilePerm)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create ledger file: %w", err)
	}
	err = f.Chmod(FilePerm) // exactly 0600, even under an odd umask such as 0277
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // an empty file we just made; the error is reported
		return fmt.Errorf("create ledger file: %w", err)
	}
	return nil
}

// ModeWarning checks the permissions of the ledger at path and of its -wal
// and -shm files: when group or others can read or write any of them it
// returns a one-line warning naming the files and the chmod that fixes it,
// otherwise "". Missing files are not checked. The ledger stays usable
// either way; printing the warning is the caller's business.
func ModeWarning(path string) string {
	var loose []string
	var modes []string
	for _, p := range append([]string{path}, withSuffixes(path)...) {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			loose = append(loose, shellQuote(p))
			modes = append(modes, fmt.Sprintf("%s %04o", p, perm))
		}
	}
	if len(loose) == 0 {
		return ""
	}
	return fmt.Sprintf("ledger file readable by group or others (%s): it holds every customer and charge; run chmod 600 %s",
		strings.Join(modes, ", "), strings.Join(loose, " "))
}

func withSuffixes(path string) []string {
	out := make([]string, len(companions))
	for i, s := range companions {
		out[i] = path + s
	}
	return out
}

// shellQuote quotes p for a POSIX shell when it holds anything but
// unremarkable characters, so that the chmod in a warning can be pasted.
func shellQuote(p string) string {
	safe := p != ""
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
