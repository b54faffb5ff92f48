//go:build !linux

package ledger

const writebackSupported = false

func startFileWriteback(string)         {}
func startFDWriteback(int)              {}
func sameFile(fd int, path string) bool { return false }
