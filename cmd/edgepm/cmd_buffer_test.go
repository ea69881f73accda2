package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

func TestCmdBufferInspectExport(t *testing.T) {
	dir := t.TempDir()
	q, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := []buffer.Record{
		{Stream: buffer.StreamReadings, Key: []byte("pump-0001"), Value: []byte(`{"ts":1,"values":{"vibration_rms":2.5}}`)},
		{Stream: buffer.StreamReadings, Key: []byte("pump-0002"), Value: []byte("not json"),
			Headers: []buffer.Header{{Key: "edgepm-schema", Value: []byte("1")}}},
	}
	if err := q.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := cmdBuffer([]string{"inspect", "--data-dir", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "running") {
		t.Fatalf("inspect while running: code %d, %s", code, errb.String())
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := cmdBuffer([]string{"inspect", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("inspect: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "readings") || !strings.Contains(out.String(), "OLDEST AGE") {
		t.Fatalf("inspect output:\n%s", out.String())
	}
	out.Reset()
	if code := cmdBuffer([]string{"inspect", "--data-dir", dir, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("inspect --json: %d %s", code, errb.String())
	}
	var rep buffer.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Streams) != 5 {
		t.Fatalf("inspect --json: %v %s", err, out.String())
	}
	out.Reset()
	if code := cmdBuffer([]string{"export", "--data-dir", dir, "--stream", "readings", "--after", "0", "--limit", "5"}, &out, &errb); code != 0 {
		t.Fatalf("export: %d %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("export:\n%s", out.String())
	}
	var l0, l1 exportLine
	_ = json.Unmarshal([]byte(lines[0]), &l0)
	_ = json.Unmarshal([]byte(lines[1]), &l1)
	// A new buffer starts its sequences at a time-based floor, not 1.
	if l0.Seq == 0 || l1.Seq != l0.Seq+1 || l0.Key != "pump-0001" || !strings.Contains(string(l0.Value), "vibration_rms") {
		t.Fatalf("line 0: %s", lines[0])
	}
	if string(l1.ValueBase64) != "not json" || l1.Headers["edgepm-schema"] != "1" {
		t.Fatalf("line 1: %s", lines[1])
	}
	if code := cmdBuffer([]string{"export", "--data-dir", dir}, &out, &errb); code != 2 {
		t.Fatalf("export without --stream: %d", code)
	}
}

// A buffer.db cut in half cannot be opened by bbolt; --salvage reads it page
// by page and puts every record it recovers in its stream (told apart by
// wire.StreamOf where the file's tree is lost).
func TestCmdBufferSalvage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "buffer.db")
	q, err := buffer.Open(path, buffer.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		var recs []buffer.Record
		for j := 0; j < 200; j++ {
			r := wire.Reading{V: wire.Version, Gateway: "gw", Device: "pump-0001", TS: int64(i*200 + j), Received: 1,
				Values: map[string]float64{"vibration_rms": 2.5, "temperature": 61}}
			recs = append(recs, buffer.Record{Stream: buffer.StreamReadings, Key: []byte("pump-0001"), Value: wire.AppendReading(nil, &r, nil)})
			if j%4 == 0 {
				p := wire.Prediction{V: wire.Version, Gateway: "gw", Device: "pump-0001", Model: "m", ModelVersion: "1",
					TS: r.TS, Score: 0.5, FeatureHash: "abc"}
				recs = append(recs, buffer.Record{Stream: buffer.StreamPredictions, Key: []byte("pump-0001"), Value: wire.AppendPrediction(nil, &p)})
			}
		}
		if err := q.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := cmdBuffer([]string{"inspect", "--data-dir", dir}, &out, &errb); code != 1 {
		t.Fatalf("inspect of the truncated file: code %d (the test needs a file bbolt cannot read)", code)
	}
	if code := cmdBuffer([]string{"inspect", "--data-dir", dir, "--salvage", path}, &out, &errb); code != 2 {
		t.Fatalf("both --data-dir and --salvage: code %d, want 2", code)
	}
	out.Reset()
	if code := cmdBuffer([]string{"inspect", "--salvage", path, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("inspect --salvage: %d %s", code, errb.String())
	}
	var rep buffer.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Salvage == nil || len(rep.Streams) != 2 {
		t.Fatalf("inspect --salvage --json: %v %s", err, out.String())
	}
	t.Logf("salvage of a half-truncated file: %+v", *rep.Salvage)
	if rep.Salvage.Recovered < 10000 || rep.Salvage.Unattributed != 0 {
		t.Fatalf("salvage %+v: want most of the first half of 25000 records, all attributed", *rep.Salvage)
	}
	for _, s := range rep.Streams {
		out.Reset()
		if code := cmdBuffer([]string{"export", "--salvage", path, "--stream", s.Name}, &out, &errb); code != 0 {
			t.Fatalf("export --salvage: %d %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if int64(len(lines)) != s.Records {
			t.Fatalf("%s: exported %d lines, inspect says %d records", s.Name, len(lines), s.Records)
		}
		for _, line := range lines {
			var l exportLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			if got, _ := wire.StreamOf(buffer.Record{Value: l.Value}); got != s.Name {
				t.Fatalf("%s export holds a %s record: %s", s.Name, got, line)
			}
		}
	}
}
