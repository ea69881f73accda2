package rollout

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/bridge"
)

func testKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func testRecord() *Record {
	at := time.Date(2026, 12, 6, 23, 15, 0, 0, time.UTC)
	agree := 0.9
	return &Record{Schema: Schema, ID: NewID("pump", "2.0.0", at), Name: "pump", Version: "2.0.0", Stable: "1.0.0",
		CanarySpec: "2", Canary: &bridge.Selector{Gateways: []string{"gw-1", "gw-2"}}, Gateways: []string{"gw-1", "gw-2"},
		State: StateCanary, Rule: Rule{Enabled: true, WindowSeconds: 60, MinAgreement: &agree},
		History: []Entry{{State: StateCanary, At: at, By: "0123456789abcdef", Reason: "canary to 2"}}, Counter: 3}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv := testKey(t)
	other, _ := testKey(t)
	v, err := Sign(testRecord(), priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(v, []ed25519.PublicKey{other, pub})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != testRecord().ID || got.Counter != 3 || *got.Rule.MinAgreement != 0.9 || got.Since() != testRecord().Since() {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := Verify(v, []ed25519.PublicKey{other}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	pub, priv := testKey(t)
	keys := []ed25519.PublicKey{pub}
	good, err := Sign(testRecord(), priv)
	if err != nil {
		t.Fatal(err)
	}
	var val Value
	if err := json.Unmarshal(good, &val); err != nil {
		t.Fatal(err)
	}
	tampered := val
	tampered.Rollout = []byte(strings.Replace(string(val.Rollout), `"2.0.0"`, `"9.0.0"`, 1))
	tb, _ := json.Marshal(tampered)
	// A release signature over the same bytes must not pass as a rollout signature.
	asRelease, _ := json.Marshal(Value{Rollout: val.Rollout, Signature: ed25519.Sign(priv, bridge.ReleaseMessage(val.Rollout))})
	for name, tc := range map[string]struct {
		value []byte
		want  error
	}{
		"unsigned":          {[]byte(`{"rollout":"e30="}`), ErrUnsigned},
		"empty object":      {[]byte(`{}`), ErrUnsigned},
		"tampered":          {tb, ErrBadSignature},
		"release signature": {asRelease, ErrBadSignature},
	} {
		if _, err := Verify(tc.value, keys); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	for name, value := range map[string]string{
		"not json":      `nope`,
		"unknown field": `{"rollout":"e30=","signature":"e30=","x":1}`,
		"trailing":      string(good) + `{}`,
	} {
		if _, err := Verify([]byte(value), keys); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	for name, mut := range map[string]func(*Record){
		"schema":        func(r *Record) { r.Schema = 2 },
		"no id":         func(r *Record) { r.ID = "" },
		"bad version":   func(r *Record) { r.Version = "../x" },
		"bad stable":    func(r *Record) { r.Stable = "" },
		"state":         func(r *Record) { r.State = "paused" },
		"history state": func(r *Record) { r.History[0].State = "x" },
		"no history":    func(r *Record) { r.History = nil },
		"counter":       func(r *Record) { r.Counter = 0 },
		"window":        func(r *Record) { r.Rule.WindowSeconds = 0 },
		"agreement":     func(r *Record) { a := 1.5; r.Rule.MinAgreement = &a },
		"glob":          func(r *Record) { r.Canary.Globs = []string{"["} },
	} {
		r := testRecord()
		mut(r)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := Decode([]byte(`{"schema":1,"bogus":true}`)); err == nil {
		t.Error("unknown field decoded")
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := Sign(testRecord(), priv)
	f.Add(good)
	f.Add([]byte(`{"rollout":"e30=","signature":"e30="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Verify(b, []ed25519.PublicKey{pub})
		if err == nil && r.Validate() != nil {
			t.Fatal("verified an invalid record")
		}
	})
}
