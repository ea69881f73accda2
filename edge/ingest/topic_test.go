package ingest

import (
	"reflect"
	"testing"
)

func TestTopicTemplateMatch(t *testing.T) {
	tt, err := ParseTopicTemplate("plant/{site}/{line}/{device}/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	if got := tt.Filter(); got != "plant/+/+/+/telemetry" {
		t.Fatalf("Filter = %q", got)
	}
	cases := []struct {
		topic  string
		device string
		fields map[string]string
		ok     bool
	}{
		{"plant/s1/l1/pump-1/telemetry", "pump-1", map[string]string{"site": "s1", "line": "l1"}, true},
		{"plant/s1/l1/pump-1/telemetry/x", "", nil, false},
		{"plant/s1/l1/pump-1", "", nil, false},
		{"plant/s1//pump-1/telemetry", "", nil, false},
		{"factory/s1/l1/pump-1/telemetry", "", nil, false},
		{"plant/s1/l1/pump-1/status", "", nil, false},
		{"", "", nil, false},
	}
	for _, c := range cases {
		d, f, ok := tt.Match(c.topic)
		if ok != c.ok || d != c.device || (ok && !reflect.DeepEqual(f, c.fields)) {
			t.Errorf("Match(%q) = %q %v %v, want %q %v %v", c.topic, d, f, ok, c.device, c.fields, c.ok)
		}
	}
}

func TestParseTopicTemplateErrors(t *testing.T) {
	for _, s := range []string{"", "plant/+/x/{device}", "plant/{site}/telemetry", "a/{device}/{device}", "a/{dev ice}", "a/#/{device}"} {
		if _, err := ParseTopicTemplate(s); err == nil {
			t.Errorf("ParseTopicTemplate(%q) succeeded, want error", s)
		}
	}
}

func TestExpand(t *testing.T) {
	got := Expand("plant/{site}/{line}/{device}/alerts", map[string]string{"site": "s", "device": "d"})
	if got != "plant/s/_/d/alerts" {
		t.Fatalf("Expand = %q", got)
	}
}

func FuzzTopicTemplateMatch(f *testing.F) {
	f.Add("plant/{site}/{line}/{device}/telemetry", "plant/s1/l1/pump-1/telemetry")
	f.Add("{device}", "x")
	f.Add("a/{device}/b", "a//b")
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		tt, err := ParseTopicTemplate(tmpl)
		if err != nil {
			return
		}
		d, _, ok := tt.Match(topic)
		if ok && d == "" {
			t.Fatalf("matched %q with %q but empty device", topic, tmpl)
		}
	})
}

func TestTemplateFits(t *testing.T) {
	tt, err := ParseTopicTemplate("plant/{site}/{device}/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"plant/s1/pump-1/telemetry": true, "plant//pump-1/telemetry": true, // an empty capture fits; Match rejects it
		"plant/s1/pump-1/status": false, "plant/s1/pump-1/telemetry/x": false, "plant/s1/telemetry": false,
		"other/s1/pump-1/telemetry": false, "": false, "plant/s1/pump-1/telemetry/": false,
	} {
		if got := tt.fits(topic); got != want {
			t.Errorf("fits(%q) = %v, want %v", topic, got, want)
		}
		if _, _, ok := tt.Match(topic); ok && !tt.fits(topic) {
			t.Errorf("%q matches but does not fit", topic)
		}
	}
}
