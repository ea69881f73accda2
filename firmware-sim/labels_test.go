package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

type labelRecorder struct {
	got []wire.Label
	at  []time.Time // simulated clock when each was sent
	now time.Time
}

func (r *labelRecorder) SendLabel(_ context.Context, l wire.Label) error {
	r.got = append(r.got, l)
	r.at = append(r.at, r.now)
	return nil
}
func (r *labelRecorder) Close() error { return nil }

// A plant's failures and repairs are filed lag after they happen, never
// earlier, and match the truth.
func TestLabelerFilesTruthWithLag(t *testing.T) {
	const lag = 12 * time.Hour
	p, err := NewPlant(Config{Seed: 3, Machines: 20, Interval: 10 * time.Minute,
		MeanTimeToOnset: 2 * 24 * time.Hour, MeanDegradation: 24 * time.Hour, RepairTime: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec := &labelRecorder{}
	lb, err := NewLabeler(rec, lag)
	if err != nil {
		t.Fatal(err)
	}
	failures, repairs := map[string]int64{}, 0
	var buf []Reading
	for range 30 * 24 * 6 { // 30 days of 10 min steps
		buf = p.StepInto(10*time.Minute, buf[:0])
		for _, r := range buf {
			rec.now = r.Time
			if r.Truth.Failed {
				failures[fmt.Sprint(r.Device, "@", r.Truth.FailureAt.UnixMilli())] = r.Truth.FailureAt.UnixMilli()
			}
			if err := lb.Observe(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	nFail := 0
	for i, l := range rec.got {
		if l.Reported != l.TS+lag.Milliseconds() {
			t.Fatalf("label %+v: reported is not ts + lag", l)
		}
		if rec.at[i].UnixMilli() < l.Reported {
			t.Fatalf("label %+v sent at %s, before it was reported", l, rec.at[i])
		}
		if rec.at[i].UnixMilli() > l.Reported+(10*time.Minute).Milliseconds() {
			t.Fatalf("label %+v sent at %s, more than one step late", l, rec.at[i])
		}
		switch l.Kind {
		case wire.LabelFailure:
			if failures[fmt.Sprint(l.Device, "@", l.TS)] != l.TS {
				t.Fatalf("failure label %+v not in the truth", l)
			}
			nFail++
		case wire.LabelMaintenance:
			repairs++
		}
	}
	due := 0
	for _, at := range failures {
		if at+lag.Milliseconds() <= rec.now.UnixMilli() {
			due++
		}
	}
	if nFail != due || nFail == 0 || repairs == 0 {
		t.Fatalf("%d failure labels sent, %d failures in the truth due by the end, %d repairs", nFail, due, repairs)
	}
	if _, err := NewLabeler(rec, -time.Second); err == nil {
		t.Fatal("negative lag accepted")
	}
}
