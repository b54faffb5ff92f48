//go:build linux

package atomicfile

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// sysTime is the process's system CPU time so far.
func sysTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Stime.Nano())
}

// BenchmarkWrite writes a 64 MiB file in 64 KiB writes through the page
// cache and with Direct, Finish (fsync) and Commit included, and reports the
// kernel's CPU time per file beside the wall time: what direct I/O saves is
// the copy into page-cache pages.
func BenchmarkWrite(b *testing.B) {
	const size, piece = 64 << 20, 64 << 10
	p := directContent(piece)
	for _, direct := range []bool{false, true} {
		name := "buffered"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(size)
			sys0 := sysTime(b)
			for b.Loop() {
				a, err := Create(filepath.Join(dir, "detail.csv"))
				if err != nil {
					b.Fatal(err)
				}
				if direct && !a.Direct() {
					b.Skip("direct I/O is not taken here")
				}
				for n := 0; n < size; n += piece {
					if _, err := a.Write(p); err != nil {
						b.Fatal(err)
					}
				}
				if err := a.Finish(); err != nil {
					b.Fatal(err)
				}
				if err := a.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((sysTime(b)-sys0).Milliseconds())/float64(b.N), "sys-ms/op")
		})
	}
}
