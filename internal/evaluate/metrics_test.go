package evaluate

import (
	"math"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/trainset"
)

// rows of one device every hour from t0, labelled 1 within 3h of the
// failure at t0+10h.
func hourly(t0 time.Time, n int) []trainset.Row {
	rows := make([]trainset.Row, n)
	for i := range rows {
		rows[i] = trainset.Row{Row: features.Row{Device: "d1", WindowEnd: t0.Add(time.Duration(i) * time.Hour)}}
		if i >= 7 {
			rows[i].Label = 1
		}
	}
	return rows
}

func TestScoreProbability(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := t0.Add(10 * time.Hour)
	failures := func(string) []time.Time { return []time.Time{fail} }
	man := &modelpkg.Manifest{OutputSemantics: modelpkg.SemanticsFailureProbability, Thresholds: modelpkg.Thresholds{Raise: 0.8}}
	scores := []float64{0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.85, 0.95}
	m := Score(man, hourly(t0, 10), scores, 3*time.Hour, t0, t0.Add(24*time.Hour), failures)
	// alerts at rows 1 (false), 8 and 9; positives 7, 8, 9.
	if m.Alerts != 3 || m.Positives != 3 || math.Abs(m.Precision-2.0/3) > 1e-12 || math.Abs(m.Recall-2.0/3) > 1e-12 {
		t.Fatalf("%+v", m)
	}
	// The first alert within the 3h horizon is row 8, 2h before the failure.
	if m.Failures != 1 || m.Alerted != 1 || m.LeadTimeMedianS == nil || *m.LeadTimeMedianS != 7200 || m.RMSES != nil {
		t.Fatalf("%+v", m)
	}
	out := Score(man, hourly(t0, 10), scores, 3*time.Hour, t0, fail, failures) // the failure is outside [from, to)
	if out.Failures != 0 || out.LeadTimeMedianS != nil {
		t.Fatalf("%+v", out)
	}
}

// Remaining useful life alerts below the threshold, ranks low as alarming
// and has an RMSE against the time to the failure.
func TestScoreRUL(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	failures := func(string) []time.Time { return []time.Time{t0.Add(10 * time.Hour)} }
	man := &modelpkg.Manifest{OutputSemantics: modelpkg.SemanticsRUL, Thresholds: modelpkg.Thresholds{Raise: 3 * 3600}}
	scores := make([]float64, 10)
	for i := range scores {
		scores[i] = float64(10-i)*3600 - 60 // a minute early everywhere
	}
	m := Score(man, hourly(t0, 10), scores, 3*time.Hour, t0, t0.Add(24*time.Hour), failures)
	if m.AUC != 1 || m.Recall != 1 || m.Precision != 1 || m.RMSES == nil || math.Abs(*m.RMSES-60) > 1e-9 || m.RMSERow != 10 {
		t.Fatalf("%+v", m)
	}
	if *m.LeadTimeMedianS != 3*3600 {
		t.Fatalf("lead time %v", *m.LeadTimeMedianS)
	}
}
