//go:build !linux

package ledger

const writebackSupported = false

func startFileWriteback(string) {}
