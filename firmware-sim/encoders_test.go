package sim

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestEncoders(t *testing.T) {
	r := Reading{Device: "pump-0001", Class: "pump", Time: time.UnixMilli(1780000000123), Seq: 42,
		Values: map[string]float64{"vibration_rms": 2.31, "bearing_temp_c": 61.2, "bad": math.NaN()}}
	var flat map[string]any
	if err := json.Unmarshal(AppendFlat(nil, r), &flat); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"device": "pump-0001", "ts": 1780000000123.0, "seq": 42.0, "vibration_rms": 2.31, "bearing_temp_c": 61.2, "bad": nil}
	if !reflect.DeepEqual(flat, want) {
		t.Errorf("flat %v, want %v", flat, want)
	}
	if got := string(AppendFlat(nil, Reading{Device: "d"})); got != `{"device":"d"}` {
		t.Errorf("flat without values: %s", got)
	}
	var tg map[string]any
	if err := json.Unmarshal(AppendTelegraf(nil, r), &tg); err != nil {
		t.Fatal(err)
	}
	wantTG := map[string]any{"name": "pump", "timestamp": 1780000000123.0, "tags": map[string]any{"host": "pump-0001"},
		"fields": map[string]any{"vibration_rms": 2.31, "bearing_temp_c": 61.2, "bad": nil}}
	if !reflect.DeepEqual(tg, wantTG) {
		t.Errorf("telegraf %v, want %v", tg, wantTG)
	}
}

func TestPublisherFormatByName(t *testing.T) {
	for _, f := range []string{FormatFlat, FormatTelegraf} {
		if _, err := NewPublisher(nil, nil, PublisherConfig{Format: f}, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := NewPublisher(nil, nil, PublisherConfig{Format: "xml"}, nil); err == nil {
		t.Error("format xml accepted")
	}
}
