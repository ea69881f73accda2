package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/buffer"
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
