package trainset

import (
	"testing"

	"go.uber.org/goleak"
)

// Extract's workers and clients are all gone when it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
