package ingest

import (
	"testing"
	"time"
)

// benchPayload is what firmware-sim sends: one reading of five sensors.
var benchPayload = []byte(`{"ts":1780000000123,"seq":42,"values":{"vibration_rms":2.31,"vibration_kurtosis":3.2,"bearing_temp_c":61.2,"current_a":12.1,"speed_rpm":1480}}`)

func benchDecoder(b *testing.B) *edgepmDecoder {
	cfg := ValidationConfig{}
	cfg.SetDefaults()
	return &edgepmDecoder{rules: &rules{cfg: cfg}}
}

// BenchmarkDecodeFast decodes one message as the Pipeline does: the fast
// path, with the scratch's value maps and interned names, recycled per
// batch (here per message).
//
//	go test -run '^$' -bench 'Decode(Fast|Plain)' -benchtime 200000x ./edge/ingest
func BenchmarkDecodeFast(b *testing.B) {
	d := benchDecoder(b)
	sc := newScratch()
	src := Source{Device: "pump-0001", Received: time.UnixMilli(1780000000200), sc: sc}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := d.Decode(sc.readings[:0], src, benchPayload)
		if err != nil || len(rs) != 1 {
			b.Fatal(err)
		}
		sc.readings = rs
		sc.recycle()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
}

// BenchmarkDecodePlain decodes the same message with encoding/json (the
// path for every shape the fast path leaves alone), then the same checks.
func BenchmarkDecodePlain(b *testing.B) {
	d := benchDecoder(b)
	src := Source{Device: "pump-0001", Received: time.UnixMilli(1780000000200)}
	var dst []Reading
	b.ReportAllocs()
	for b.Loop() {
		w, err := plainDecode(benchPayload, false)
		if err != nil {
			b.Fatal(err)
		}
		rs, err := d.readings(dst[:0], src, &w)
		if err != nil || len(rs) != 1 {
			b.Fatal(err)
		}
		dst = rs
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
}
