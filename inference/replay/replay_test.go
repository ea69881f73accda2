package replay

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

func readAll(t *testing.T, format, in string) ([]Reading, error) {
	t.Helper()
	var out []Reading
	err := Read(strings.NewReader(in), format, func(r Reading) error { out = append(out, r); return nil })
	return out, err
}

func TestReadFormats(t *testing.T) {
	csvIn := "device,ts,a,b\nd1,1000,1.5,\nd1,1970-01-01T00:00:02Z,2,3\n"
	jsonIn := `{"v":1,"gateway":"g","device":"d1","ts":1000,"received":1000,"values":{"a":1.5}}` + "\n\n" +
		`{"v":1,"gateway":"g","device":"d1","ts":2000,"received":2000,"values":{"a":2,"b":3}}` + "\n"
	for format, in := range map[string]string{FormatCSV: csvIn, FormatJSONL: jsonIn} {
		rs, err := readAll(t, format, in)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(rs) != 2 || rs[0].Device != "d1" || !rs[1].Time.Equal(time.Unix(2, 0)) || len(rs[0].Values) != 1 || rs[1].Values["b"] != 3 {
			t.Fatalf("%s: %+v", format, rs)
		}
	}
	bad := map[string][2]string{
		"csv header":  {FormatCSV, "dev,ts,a\n"},
		"csv number":  {FormatCSV, "device,ts,a\nd,1,x\n"},
		"csv ts":      {FormatCSV, "device,ts,a\nd,yesterday,1\n"},
		"csv device":  {FormatCSV, "device,ts,a\n,1,1\n"},
		"json":        {FormatJSONL, "{\n"},
		"json device": {FormatJSONL, `{"ts":1}` + "\n"},
		"format":      {"xml", ""},
	}
	for name, c := range bad {
		if _, err := readAll(t, c[0], c[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if FormatOf("x.CSV") != FormatCSV || FormatOf("x.jsonl") != FormatJSONL {
		t.Error("FormatOf")
	}
}

func TestExporterCountsAndWriter(t *testing.T) {
	specs := []features.Spec{{Sensor: "a", Stat: features.Mean}, {Sensor: "b", Stat: features.Last}}
	plan, _ := features.NewPlan(specs, []float32{0, -1})
	x, err := NewExporter(plan, features.WindowConfig{Size: 2, Hop: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewRowWriter(&buf, []string{"a.mean", "b.last"})
	push := func(sec int64, v map[string]float64) {
		row, ok, err := x.Push(Reading{Device: "d", Time: time.Unix(sec, 0), Values: v})
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			w.Write(row)
		}
	}
	push(1, map[string]float64{"a": 1})         // missing b, window not full
	push(2, map[string]float64{"a": 2, "b": 5}) // row: mean 1.5, last 5
	push(1, map[string]float64{"a": 9})         // out of order
	push(3, map[string]float64{"c": 1})         // none of the sensors
	push(4, map[string]float64{"a": 0.1})       // row: mean 1.05, last b 5
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := Counts{Readings: 5, Rows: 2, MissingSensors: 2, NoValues: 1, OutOfOrder: 1}
	if x.Counts != want {
		t.Fatalf("counts %+v, want %+v", x.Counts, want)
	}
	if got := buf.String(); got != "device,window_end,a.mean,b.last\nd,2000,1.5,5\nd,4000,1.05,5\n" {
		t.Fatalf("csv:\n%s", got)
	}
}
