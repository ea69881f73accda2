package wire

import "testing"

func TestShadowHeaders(t *testing.T) {
	h := ShadowHeaders("pm", "4-rc")
	if len(h) != 3 || h[0].Key != HeaderSchema || string(h[0].Value) != "1" || h[1].Key != HeaderModel ||
		string(h[1].Value) != "pm:4-rc" || h[2].Key != "edgepm-shadow" || string(h[2].Value) != "1" {
		t.Fatalf("headers %+v", h)
	}
	if m := ModelHeaders("pm", "4-rc"); len(m) != 2 {
		t.Fatalf("ShadowHeaders changed ModelHeaders: %+v", m)
	}
}
