package main

import (
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/wire"
)

// latestDrift reads each gateway's latest drift event of the version, not
// the noisy early ones, and names the worst feature.
func TestLatestDrift(t *testing.T) {
	ev := func(gw, version string, scores ...float64) tapped {
		var top []any
		for i, s := range scores {
			top = append(top, map[string]any{"feature": "f" + string(rune('a'+i)), "score": s})
		}
		return tapped{Event: wire.Event{Gateway: gw, Type: wire.EventInferenceDrift,
			Detail: map[string]any{"model_version": version, "top": top}}}
	}
	events := []tapped{ev("gw-1", "1.1.0", 3.3), ev("gw-1", "1.1.0", 0.2, 0.1), ev("gw-2", "1.1.0", 0.1, 0.9),
		ev("gw-2", "1.0.0", 7), {Event: wire.Event{Gateway: "gw-2", Type: wire.EventModelActivated}}}
	score, name := latestDrift(events, "1.1.0", "score", "recent_score")
	if score != 0.9 || name != "fb on gw-2" {
		t.Fatalf("got %v %q, want 0.9 (fb on gw-2)", score, name)
	}
	events = append(events, tapped{Event: wire.Event{Gateway: "gw-1", Type: wire.EventInferenceDrift, Detail: map[string]any{
		"model_version": "1.1.0", "top": []any{map[string]any{"feature": "fz", "score": 0.5, "recent_score": 4.5}}}}})
	if score, name := latestDrift(events, "1.1.0", "score", "recent_score"); score != 4.5 || name != "fz on gw-1, last interval" {
		t.Fatalf("with a recent score: got %v %q, want 4.5 (fz on gw-1, last interval)", score, name)
	}
	events = append(events, tapped{Event: wire.Event{Gateway: "gw-2", Type: wire.EventInferenceDrift, Detail: map[string]any{
		"model_version": "1.1.0", "top": []any{map[string]any{"feature": "fp", "score": 0.1, "psi": 2.5, "recent_psi": 1.5}}}}})
	if psi, name := latestDrift(events, "1.1.0", "psi"); psi != 2.5 || name != "fp on gw-2" {
		t.Fatalf("psi: got %v %q, want 2.5 (fp on gw-2)", psi, name)
	}
	if score, _ := latestDrift(events, "9", "score", "recent_score"); score != 0 {
		t.Fatalf("unknown version: %v", score)
	}
}

// Each line's firmware-sim gets its own seed, ids and labels to Kafka;
// only line 2 changes.
func TestSimArgs(t *testing.T) {
	o := options{accel: 21600, seed: 5}
	a1 := strings.Join(simArgs(o, "tcp://m", "k:1", 0), " ")
	a2 := strings.Join(simArgs(o, "tcp://m", "k:1", 1), " ")
	for _, want := range []string{"--seed 5", "--line line1", "--labels-to-kafka k:1", "--start 2025-01-01T00:00:00Z"} {
		if !strings.Contains(a1, want) {
			t.Errorf("line 1 args lack %q: %s", want, a1)
		}
	}
	if strings.Contains(a1, "--add-") || !strings.Contains(a2, "--add-at 576h0m0s --add-machines 30 --add-classes conveyor") ||
		!strings.Contains(a2, "--seed 2") || strings.Contains(a2, "--seed 5") || !strings.Contains(a2, "--first-machine 100") {
		t.Fatalf("line 1: %s\nline 2: %s", a1, a2)
	}
	if n := strings.Count(a2, "--seed"); n != 1 {
		t.Fatalf("%d seeds: %s", n, a2)
	}
}
