//go:build !unix

package job

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
