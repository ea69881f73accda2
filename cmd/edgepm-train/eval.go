package main

import ev "github.com/edgepm/edgepm/internal/evaluate"

// metrics are held-out classification figures at a threshold.
type metrics struct {
	Threshold float64 `json:"threshold"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	AUC       float64 `json:"auc"`
	Rows      int     `json:"rows"`
	Positives int     `json:"positives"`
}

func evaluate(scores, ys []float64, threshold float64) metrics {
	mt := metrics{Threshold: threshold, Rows: len(ys), AUC: ev.AUC(scores, ys)}
	var tp, fp, fn float64
	for i, s := range scores {
		pos := ys[i] > 0.5
		if pos {
			mt.Positives++
		}
		switch {
		case s >= threshold && pos:
			tp++
		case s >= threshold:
			fp++
		case pos:
			fn++
		}
	}
	if tp+fp > 0 {
		mt.Precision = tp / (tp + fp)
	}
	if tp+fn > 0 {
		mt.Recall = tp / (tp + fn)
	}
	return mt
}
