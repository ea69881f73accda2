package evaluate

import (
	"math"
	"slices"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/trainset"
)

// Metrics are one package's figures on the holdout.
type Metrics struct {
	Rows      int `json:"rows"`      // holdout rows scored
	Positives int `json:"positives"` // rows labelled 1 (a failure within the horizon)
	// AUC ranks the rows by how alarming the score is (for remaining
	// useful life: lower is more alarming).
	AUC float64 `json:"auc"`
	// Alerts are the rows at or past the raise threshold in the alert
	// direction; Precision and Recall are theirs against the labels.
	Alerts    int     `json:"alerts"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Failures are the failure labels in the holdout of devices with rows
	// before them within the horizon; Alerted those with an alert in it.
	Failures int `json:"failures"`
	Alerted  int `json:"failures_alerted"`
	// LeadTimeMedianS is the median, over the alerted failures, of the
	// time from the first alert in the horizon before the failure to the
	// failure, in seconds; nil when no failure was alerted.
	LeadTimeMedianS *float64 `json:"lead_time_median_s"`
	// RMSES is the RMSE of a remaining_useful_life_s model against the
	// time to the device's next failure label, over the rows with one;
	// nil for other semantics.
	RMSES   *float64 `json:"rmse_s"`
	RMSERow int      `json:"rmse_rows"`
}

// Failures returns the failure times of a device (trainset.Result).
type Failures func(device string) []time.Time

// Score computes the metrics of scores (one per row, the output the
// manifest names) for man's semantics and raise threshold.
func Score(man *modelpkg.Manifest, rows []trainset.Row, scores []float64, horizon time.Duration, from, to time.Time, failures Failures) Metrics {
	low := modelpkg.LowIsBad(man.OutputSemantics)
	raise := man.Thresholds.Raise
	alarm := make([]float64, len(scores)) // higher is more alarming
	ys := make([]float64, len(rows))
	var tp, fp float64
	m := Metrics{Rows: len(rows)}
	for i, r := range rows {
		alarm[i], ys[i] = scores[i], r.Label
		if low {
			alarm[i] = -scores[i]
		}
		pos := r.Label > 0.5
		if pos {
			m.Positives++
		}
		if alerts(scores[i], raise, low) {
			m.Alerts++
			if pos {
				tp++
			} else {
				fp++
			}
		}
	}
	m.AUC = AUC(alarm, ys)
	if tp+fp > 0 {
		m.Precision = tp / (tp + fp)
	}
	if m.Positives > 0 {
		m.Recall = tp / float64(m.Positives)
	}
	m.leadTimes(rows, scores, raise, low, horizon, from, to, failures)
	if man.OutputSemantics == modelpkg.SemanticsRUL {
		m.rmse(rows, scores, failures)
	}
	return m
}

func alerts(score, raise float64, low bool) bool {
	if low {
		return score <= raise
	}
	return score >= raise
}

// leadTimes walks each device's rows (ordered by device, then window end)
// and, for each failure in [from, to), finds the first alert among the
// rows in [failure-horizon, failure).
func (m *Metrics) leadTimes(rows []trainset.Row, scores []float64, raise float64, low bool, horizon time.Duration, from, to time.Time, failures Failures) {
	var leads []float64
	for start := 0; start < len(rows); {
		end := start
		for end < len(rows) && rows[end].Device == rows[start].Device {
			end++
		}
		for _, f := range failures(rows[start].Device) {
			if f.Before(from) || !f.Before(to) {
				continue
			}
			seen := false
			for i := start; i < end; i++ {
				we := rows[i].WindowEnd
				if we.Before(f.Add(-horizon)) || !we.Before(f) {
					continue
				}
				if !seen {
					seen = true
					m.Failures++
				}
				if alerts(scores[i], raise, low) {
					m.Alerted++
					leads = append(leads, f.Sub(we).Seconds())
					break
				}
			}
		}
		start = end
	}
	if len(leads) > 0 {
		slices.Sort(leads)
		med := leads[len(leads)/2]
		if len(leads)%2 == 0 {
			med = (leads[len(leads)/2-1] + med) / 2
		}
		m.LeadTimeMedianS = &med
	}
}

// rmse compares a remaining life in seconds with the time to the next
// failure label after the window end.
func (m *Metrics) rmse(rows []trainset.Row, scores []float64, failures Failures) {
	var sum float64
	var fs []time.Time
	for i, r := range rows {
		if i == 0 || r.Device != rows[i-1].Device {
			fs = failures(r.Device)
		}
		j, _ := slices.BinarySearchFunc(fs, r.WindowEnd, func(f, t time.Time) int { return f.Compare(t) })
		if j == len(fs) {
			continue
		}
		d := scores[i] - fs[j].Sub(r.WindowEnd).Seconds()
		sum += d * d
		m.RMSERow++
	}
	if m.RMSERow > 0 {
		v := math.Sqrt(sum / float64(m.RMSERow))
		m.RMSES = &v
	}
}
