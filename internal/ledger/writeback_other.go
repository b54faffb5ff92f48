//go:build !linux

package ledger

const writebackSupported = false

func startFileWriteback(string) error { return nil }
func startFDWriteback(int) error      { return nil }
func sameFile(int, string) bool       { return false }
