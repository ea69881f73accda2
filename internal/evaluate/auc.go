package evaluate

import "sort"

// AUC is the area under the ROC curve of scores for labels ys (> 0.5 is
// positive): the Mann-Whitney statistic, ties counting half. A higher
// score must mean more likely positive. It is 0 without a positive or a
// negative.
func AUC(scores, ys []float64) float64 {
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
