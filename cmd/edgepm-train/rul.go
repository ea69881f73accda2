package main

import (
	"fmt"
	"io"
	"math"
)

// rulMetrics are remaining-useful-life figures over N predictions.
type rulMetrics struct {
	N     int     `json:"n"`
	RMSE  float64 `json:"rmse"`
	Score float64 `json:"phm08_score"` // Σ s_i; meaningful for one prediction per unit
}

// rulEval returns the RMSE and the PHM08 score of predictions against truth
// (d = prediction - truth): s = exp(-d/13) - 1 for early (d < 0) and
// exp(d/10) - 1 for late predictions (Saxena et al. 2008).
func rulEval(pred, truth []float64) rulMetrics {
	m := rulMetrics{N: len(pred)}
	if len(pred) == 0 {
		return m
	}
	var sq float64
	for i, p := range pred {
		d := p - truth[i]
		sq += d * d
		if d < 0 {
			m.Score += math.Exp(-d/13) - 1
		} else {
			m.Score += math.Exp(d/10) - 1
		}
	}
	m.RMSE = math.Sqrt(sq / float64(len(pred)))
	m.RMSE, m.Score = round4(m.RMSE), round4(m.Score)
	return m
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// published are FD001 results from shared/datasets/README.md (last cycle of
// each test unit, RUL target capped at 125-130). Rows the README marks
// "secondary only" were not checked against the original paper.
var published = []struct {
	method, source string
	rmse, score    float64
	secondary      bool
}{
	{"MLP", "Babu et al. 2016", 37.56, 18000, false},
	{"SVR", "Babu et al. 2016", 20.96, 1380, false},
	{"RVR", "Babu et al. 2016", 23.80, 1500, false},
	{"CNN", "Babu et al. 2016", 18.45, 1290, false},
	{"Random forest", "Zhang et al. 2017", 17.91, 480, true},
	{"Deep LSTM", "Zheng et al. 2017", 16.14, 338, false},
	{"Gradient boosting", "Zhang et al. 2017", 15.67, 474, true},
	{"RVE", "Costa & Sánchez 2022", 13.42, 323.82, false},
	{"DCNN", "Li et al. 2018", 12.61, 274, true},
}

// printComparison writes this model's test figures next to the published ones.
func printComparison(w io.Writer, capped, uncapped rulMetrics) {
	fmt.Fprintf(w, "  %-38s %8s %10s\n", "FD001 test, last cycle per unit", "RMSE", "score")
	fmt.Fprintf(w, "  %-38s %8.2f %10.1f\n", "this model (truth capped at 125)", capped.RMSE, capped.Score)
	fmt.Fprintf(w, "  %-38s %8.2f %10.1f\n", "this model (truth uncapped)", uncapped.RMSE, uncapped.Score)
	for _, p := range published {
		note := ""
		if p.secondary {
			note = " *"
		}
		fmt.Fprintf(w, "  %-38s %8.2f %10.0f\n", p.method+", "+p.source+note, p.rmse, p.score)
	}
	fmt.Fprintln(w, "  (published: shared/datasets/README.md; * secondary source only, not checked against the paper)")
}
