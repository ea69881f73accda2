package inference

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewEngine(EngineConfig{}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := NewEngine(EngineConfig{}, nil, reg); err == nil {
		t.Fatal("double registration accepted")
	}
	if _, err := NewEngine(EngineConfig{MaxBatch: -1}, nil, nil); err == nil || !strings.Contains(err.Error(), "max_batch") {
		t.Fatalf("bad config: %v", err)
	}
}
