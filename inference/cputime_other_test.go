//go:build !linux

package inference

import "time"

// threadCPU is not available here: benchmarks fall back to wall-clock time.
func threadCPU() (time.Duration, bool) { return 0, false }
