package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// The pump, motor, fan and compressor classes produce the same readings and
// truth, bit for bit, for the same Config as they always have: models trained
// on them and recorded runs stay valid when the simulator grows (new classes,
// new failure modes, new effect fields). The hashes were recorded before the
// conveyor class was added; a change here changes every existing plant and
// must be deliberate.
func TestExistingClassesUnchanged(t *testing.T) {
	old := []string{ClassPump, ClassMotor, ClassFan, ClassCompressor}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps int
		dt    time.Duration
		want  string
	}{
		{"default plant", Config{Seed: 1}, 300, time.Minute, "52b0ee91671bbd40ade10798d61ce339eae575f4666c7f0f72e9dc95f211a21f"},
		{"all old classes, failing", Config{Seed: 42, Machines: 12, Classes: old,
			MeanTimeToOnset: 5 * 24 * time.Hour, MeanDegradation: 2 * 24 * time.Hour, RepairTime: 4 * time.Hour},
			2000, 10 * time.Minute, "91b59b64be823f62a3f44c1f07ba0968b9674fcb7808afb1943ac3f0c12ac680"},
	} {
		sum := sha256.Sum256(runPlant(t, tc.cfg, tc.steps, tc.dt))
		if got := hex.EncodeToString(sum[:]); got != tc.want {
			t.Errorf("%s: sha256 %s, want %s", tc.name, got, tc.want)
		}
	}
}
