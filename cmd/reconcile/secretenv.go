package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// secretFromEnv reads a secret from $NAME, or from the file named by
// $NAME_FILE (for secret managers and systemd credentials). A file that group
// or others may read gets a warning: the secret is as safe as its file. The
// Sherweb secrets go through the configuration (internal/config); this is
// for the SMTP password, which is read from the environment only.
func secretFromEnv(name string, stderr io.Writer) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", usagef("%s_FILE: %v", name, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "reconcile: warning: %s (from %s_FILE) is readable by others (mode %04o); run chmod 600 on it\n", path, name, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("%s_FILE: %v", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
