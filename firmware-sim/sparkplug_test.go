package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
)

// TestSparkplugEncoderRoundTrip: what --format sparkplug_b publishes, edgepm's
// sparkplug_b decoder reads back: births first, alias-only data with the
// reading's values, a new DBIRTH when a device reports a new sensor.
func TestSparkplugEncoderRoundTrip(t *testing.T) {
	enc := encoders[FormatSparkplugB](PublisherConfig{Site: "plant1", Line: "line-1"})
	t0 := time.Now().Truncate(time.Millisecond)
	readings := []Reading{
		{Device: "pump-0001", Time: t0, Values: map[string]float64{"temp": 61.5, "rpm": 1480}},
		{Device: "fan-0002", Time: t0, Values: map[string]float64{"temp": 30}},
		{Device: "pump-0001", Time: t0.Add(time.Second), Values: map[string]float64{"temp": 62, "rpm": 1490, "amps": 12.5}},
	}
	var msgs []Message
	for _, r := range readings {
		msgs = enc.Encode(msgs, "unused", r)
	}
	var topics []string
	for _, m := range msgs {
		topics = append(topics, strings.TrimPrefix(m.Topic, "spBv1.0/plant1/"))
	}
	want := "[NBIRTH/line-1 DBIRTH/line-1/pump-0001 DDATA/line-1/pump-0001 DBIRTH/line-1/fan-0002 DDATA/line-1/fan-0002 DBIRTH/line-1/pump-0001 DDATA/line-1/pump-0001]"
	if fmt.Sprint(topics) != want {
		t.Fatalf("topics:\n got %v\nwant %s", topics, want)
	}
	d, err := ingest.NewDecoder(FormatSparkplugB, ingest.ValidationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var data []ingest.Reading
	for _, m := range msgs {
		levels := strings.Split(m.Topic, "/")
		device := strings.Join(levels[3:], "/")
		rs, err := d.Decode(nil, ingest.Source{Device: device, Topic: m.Topic, Received: t0}, m.Payload)
		if err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if levels[2] == "DDATA" {
			data = append(data, rs...)
		}
	}
	if len(data) != len(readings) {
		t.Fatalf("got %d data readings, want %d", len(data), len(readings))
	}
	for i, r := range readings {
		if data[i].Device != "line-1/"+r.Device || fmt.Sprint(data[i].Values) != fmt.Sprint(r.Values) || !data[i].Time.Equal(r.Time) {
			t.Errorf("reading %d: got %s %v %s, want %s %v %s", i, data[i].Device, data[i].Values, data[i].Time, r.Device, r.Values, r.Time)
		}
	}
}
