package wire

import (
	"errors"
	"testing"
)

func TestDecodeLabel(t *testing.T) {
	l, err := DecodeLabel([]byte(`{"v":1,"device":"pump-0003","ts":1735779600000,"kind":"failure","text":"bearing","future":1}`))
	if err != nil || l.Device != "pump-0003" || l.Kind != LabelFailure || l.Time().UnixMilli() != 1735779600000 || l.Text != "bearing" {
		t.Fatalf("%+v %v", l, err)
	}
	for name, in := range map[string]string{
		"not json":    `{`,
		"version":     `{"v":2,"device":"d","ts":1,"kind":"failure"}`,
		"no device":   `{"v":1,"ts":1,"kind":"failure"}`,
		"no ts":       `{"v":1,"device":"d","kind":"failure"}`,
		"bad kind":    `{"v":1,"device":"d","ts":1,"kind":"exploded"}`,
		"array":       `[1]`,
		"ts negative": `{"v":1,"device":"d","ts":-5,"kind":"maintenance"}`,
	} {
		if _, err := DecodeLabel([]byte(in)); !errors.Is(err, ErrLabel) {
			t.Errorf("%s: err %v, want ErrLabel", name, err)
		}
	}
}

// FuzzDecodeLabel: DecodeLabel never panics, and what it accepts encodes
// back to a value it accepts again, equal.
func FuzzDecodeLabel(f *testing.F) {
	f.Add([]byte(`{"v":1,"device":"d","ts":1,"kind":"inspection_ok","reported":5,"text":"ok"}`))
	f.Add([]byte(`{"v":1,"device":"","ts":0,"kind":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLabel(b)
		if err != nil {
			return
		}
		again, err := DecodeLabel(MustJSON(l))
		if err != nil || again != l {
			t.Fatalf("round trip: %+v -> %+v, %v", l, again, err)
		}
	})
}
