package bridge

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func testRelease() *Release {
	return &Release{Schema: 1, Name: "pump", Counter: 3, Action: ActionCanary, Version: "2.0.0",
		Stable: "1.0.0", Canary: &Selector{Gateways: []string{"gw-1"}, Globs: []string{"line3-*"}},
		Shadow: "3.0.0", Issued: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
}

func TestReleaseSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	body, sig, err := SignRelease(testRelease(), priv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := VerifyRelease(body, sig, []ed25519.PublicKey{other, pub})
	if err != nil || r.Counter != 3 || r.Stable != "1.0.0" {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	if _, err := VerifyRelease(body, sig, []ed25519.PublicKey{other}); !errors.Is(err, ErrReleaseBadSig) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := VerifyRelease(body, nil, []ed25519.PublicKey{pub}); !errors.Is(err, ErrReleaseUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1
	if _, err := VerifyRelease(tampered, sig, []ed25519.PublicKey{pub}); !errors.Is(err, ErrReleaseBadSig) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestReleaseServedBy(t *testing.T) {
	r := testRelease()
	for _, c := range []struct{ id, v, shadow string }{
		{"gw-1", "2.0.0", "3.0.0"}, {"line3-a", "2.0.0", "3.0.0"}, {"gw-2", "1.0.0", ""},
	} {
		if v, s := r.ServedBy(c.id); v != c.v || s != c.shadow {
			t.Errorf("%s: got %s/%s, want %s/%s", c.id, v, s, c.v, c.shadow)
		}
	}
	r.ShadowOn = &Selector{Gateways: []string{"gw-1"}}
	if _, s := r.ServedBy("line3-a"); s != "" {
		t.Errorf("shadow_on excludes line3-a, got shadow %q", s)
	}
}

func TestReleaseInvalid(t *testing.T) {
	for name, mut := range map[string]func(*Release){
		"schema":        func(r *Release) { r.Schema = 2 },
		"counter":       func(r *Release) { r.Counter = 0 },
		"canary stable": func(r *Release) { r.Stable = "" },
		"action":        func(r *Release) { r.Action = "yolo" },
		"glob":          func(r *Release) { r.Canary.Globs = []string{"["} },
		"shadow=served": func(r *Release) { r.Shadow = r.Version },
		"version":       func(r *Release) { r.Version = "../x" },
	} {
		r := testRelease()
		mut(r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := DecodeRelease([]byte(`{"schema":1,"extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := DecodeRelease([]byte(`not json`)); err == nil {
		t.Error("garbage accepted")
	}
}
