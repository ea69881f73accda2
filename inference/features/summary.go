package features

import "math"

// Summary holds the moments of one channel's valid samples in a window.
// Compute it with Summarize; read statistics with Value.
type Summary struct {
	N                 int
	Mean, Min, Max    float64
	Last              float64
	m2, m3, m4, sumSq float64 // central moment sums and Σx²
	maxAbs            float64
	slope             float64
}

// Summarize computes the summary of values (NaN entries are skipped). times
// holds each sample's time in seconds (any origin) and may be nil, in which
// case the sample index is used as time.
func Summarize(times, values []float64) Summary {
	s := Summary{Mean: math.NaN(), Min: math.NaN(), Max: math.NaN(), Last: math.NaN()}
	var sum, tsum float64
	for i, x := range values {
		if math.IsNaN(x) {
			continue
		}
		if s.N == 0 || x < s.Min {
			s.Min = x
		}
		if s.N == 0 || x > s.Max {
			s.Max = x
		}
		s.N++
		sum += x
		s.sumSq += x * x
		s.Last = x
		tsum += at(times, i)
	}
	if s.N == 0 {
		return s
	}
	n := float64(s.N)
	s.Mean = sum / n
	tmean := tsum / n
	var sxy, sxx float64
	for i, x := range values {
		if math.IsNaN(x) {
			continue
		}
		d := x - s.Mean
		d2 := d * d
		s.m2 += d2
		s.m3 += d2 * d
		s.m4 += d2 * d2
		dt := at(times, i) - tmean
		sxy += dt * d
		sxx += dt * dt
	}
	if sxx > 0 {
		s.slope = sxy / sxx
	}
	s.maxAbs = math.Max(math.Abs(s.Min), math.Abs(s.Max))
	return s
}

func at(times []float64, i int) float64 {
	if times == nil {
		return float64(i)
	}
	return times[i]
}

// flat reports whether the variance is zero up to rounding.
func (s *Summary) flat() bool {
	return s.std() <= 1e-12*math.Max(1, math.Abs(s.Mean))
}

func (s *Summary) std() float64 { return math.Sqrt(s.m2 / float64(s.N)) }

// Value returns statistic st (EWMA and band energy are not summary
// statistics; they return NaN here). It returns NaN when N is 0, except
// for Count.
func (s *Summary) Value(st Stat) float64 {
	if st == Count {
		return float64(s.N)
	}
	if s.N == 0 {
		return math.NaN()
	}
	n := float64(s.N)
	switch st {
	case Mean:
		return s.Mean
	case Std:
		return s.std()
	case Min:
		return s.Min
	case Max:
		return s.Max
	case RMS:
		return math.Sqrt(s.sumSq / n)
	case PeakToPeak:
		return s.Max - s.Min
	case Crest:
		rms := math.Sqrt(s.sumSq / n)
		if rms == 0 {
			return 0
		}
		return s.maxAbs / rms
	case Skewness:
		if s.flat() {
			return 0
		}
		m2 := s.m2 / n
		return (s.m3 / n) / (m2 * math.Sqrt(m2))
	case Kurtosis:
		if s.flat() {
			return 0
		}
		m2 := s.m2 / n
		return (s.m4 / n) / (m2 * m2)
	case Slope:
		return s.slope
	case Last:
		return s.Last
	}
	return math.NaN()
}

// EWMAOf returns the exponentially weighted moving average of the valid
// values, oldest to newest, seeded with the first valid value (NaN if none).
func EWMAOf(values []float64, alpha float64) float64 {
	e := math.NaN()
	for _, x := range values {
		if math.IsNaN(x) {
			continue
		}
		if math.IsNaN(e) {
			e = x
			continue
		}
		e = alpha*x + (1-alpha)*e
	}
	return e
}
