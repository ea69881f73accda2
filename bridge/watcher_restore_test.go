package bridge

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// TestRestoreAppliesThePolicy: a package in the model store is judged by
// the signature policy again at Restore (the disk is not trusted, and the
// configured keys may have changed): forged, unsigned or wrongly keyed
// stored packages are not activated; a correctly signed one is, without
// Kafka (the brokers here do not exist).
func TestRestoreAppliesThePolicy(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		pkg    *modelpkg.Package
		policy modelpkg.Policy
		ok     bool
	}{
		{"signed", testPackage(t, "1.0.0", randomBytes(2000, 1), priv), modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, true},
		{"other key", testPackage(t, "1.0.0", randomBytes(2000, 1), otherPriv), modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, false},
		{"unsigned", testPackage(t, "1.0.0", randomBytes(2000, 1), nil), modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, false},
		{"unsigned, allow_unsigned", testPackage(t, "1.0.0", randomBytes(2000, 1), nil), modelpkg.Policy{AllowUnsigned: true}, true},
		{"forged, allow_unsigned", func() *modelpkg.Package {
			p := testPackage(t, "1.0.0", randomBytes(2000, 1), priv)
			p.Signature[7] ^= 1
			return p
		}(), modelpkg.Policy{Keys: []ed25519.PublicKey{pub}, AllowUnsigned: true}, false},
		{"manifest edited on disk", func() *modelpkg.Package {
			p := testPackage(t, "1.0.0", randomBytes(2000, 1), priv)
			p.Manifest = []byte(strings.Replace(string(p.Manifest), `"pump-health"`, `"pump-health" `, 1))
			return p
		}(), modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := modelpkg.NewStore(dir)
			if err := st.Save("pump-health", "1.0.0", tc.pkg); err != nil {
				t.Fatal(err)
			}
			if err := st.SetCurrent("pump-health", "1.0.0"); err != nil {
				t.Fatal(err)
			}
			var acts activations
			w := newTestWatcher(t, ModelWatcherConfig{Kafka: testConfig([]string{"127.0.0.1:1"}), Dir: dir,
				Policy: tc.policy, Activate: acts.activate})
			err := w.Restore()
			if tc.ok {
				if err != nil || acts.last() != "pump-health:1.0.0" {
					t.Fatalf("restore: %v, activated %q", err, acts.last())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), modelpkg.ReasonSignature) || acts.last() != "" {
				t.Fatalf("restore: %v, activated %q; want a signature rejection and nothing activated", err, acts.last())
			}
		})
	}
}
