package edge

import (
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

func testONNXRuntimeLib(t *testing.T) string { return testenv.ONNXRuntimeLib(t) }
