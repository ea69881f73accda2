//go:build !linux

package testenv

import "time"

// ThreadCPU is not available here: benchmarks fall back to wall-clock time.
func ThreadCPU() (time.Duration, bool) { return 0, false }
