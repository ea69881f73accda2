package ingest

import (
	"testing"
	"time"
)

// benchFlatPayload is benchPayload's reading as flat JSON, with the device
// in the payload (firmware-sim --format flat).
var benchFlatPayload = []byte(`{"device":"pump-0001","ts":1780000000123,"seq":42,"vibration_rms":2.31,"vibration_kurtosis":3.2,"bearing_temp_c":61.2,"current_a":12.1,"speed_rpm":1480}`)

// benchTelegrafPayload is the same reading as Telegraf's JSON serializer
// writes it (firmware-sim --format telegraf).
var benchTelegrafPayload = []byte(`{"fields":{"bearing_temp_c":61.2,"current_a":12.1,"speed_rpm":1480,"vibration_kurtosis":3.2,"vibration_rms":2.31},"name":"pump","tags":{"host":"pump-0001"},"timestamp":1780000000123}`)

// benchMapped decodes payload with d as the Pipeline does (scratch maps
// and names, recycled per message).
func benchMapped(b *testing.B, d Decoder, payload []byte) {
	sc := newScratch()
	src := Source{Device: "pump-0001", Received: time.UnixMilli(1780000000200), sc: sc}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := d.Decode(sc.readings[:0], src, payload)
		if err != nil || len(rs) != 1 || len(rs[0].Values) != 5 {
			b.Fatal(rs, err)
		}
		sc.readings = rs
		sc.recycle()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
}

// BenchmarkDecodeFlat: the flat decoder on benchFlatPayload.
//
//	go test -run '^$' -bench 'Decode(Fast|Flat|Telegraf)' -benchtime 200000x ./edge/ingest
func BenchmarkDecodeFlat(b *testing.B) {
	d := newFlatTest(b, &FlatMapping{DeviceField: "device", SeqField: "seq"}, ValidationConfig{})
	benchMapped(b, d, benchFlatPayload)
}

// BenchmarkDecodeTelegraf: the telegraf decoder on benchTelegrafPayload.
func BenchmarkDecodeTelegraf(b *testing.B) {
	d := newTelegrafTest(b, &TelegrafMapping{TimestampUnit: UnitMillis, MeasurementPrefix: new(bool)}, ValidationConfig{})
	benchMapped(b, d, benchTelegrafPayload)
}
