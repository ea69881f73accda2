package main

import (
	"sort"
)

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
	mt := metrics{Threshold: threshold, Rows: len(ys), AUC: auc(scores, ys)}
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

// auc is the area under the ROC curve (Mann-Whitney, ties count half).
func auc(scores, ys []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum, pos, neg float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if ys[idx[k]] > 0.5 {
				rankSum += mid
			}
		}
		i = j
	}
	for _, y := range ys {
		if y > 0.5 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return 0
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
