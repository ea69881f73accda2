package features

import (
	"math"
	"testing"
)

// direct computes every statistic naively from its definition.
func direct(st Stat, t, x []float64) float64 {
	var v, ts []float64
	for i, a := range x {
		if !math.IsNaN(a) {
			v = append(v, a)
			ts = append(ts, t[i])
		}
	}
	n := float64(len(v))
	if st == Count {
		return n
	}
	if len(v) == 0 {
		return math.NaN()
	}
	mean := 0.0
	for _, a := range v {
		mean += a / n
	}
	mom := func(k float64) float64 {
		s := 0.0
		for _, a := range v {
			s += math.Pow(a-mean, k)
		}
		return s / n
	}
	mn, mx, sq, maxAbs := v[0], v[0], 0.0, 0.0
	for _, a := range v {
		mn, mx = math.Min(mn, a), math.Max(mx, a)
		sq += a * a
		maxAbs = math.Max(maxAbs, math.Abs(a))
	}
	rms := math.Sqrt(sq / n)
	std := math.Sqrt(mom(2))
	flat := std <= 1e-12*math.Max(1, math.Abs(mean))
	switch st {
	case Mean:
		return mean
	case Std:
		return std
	case Min:
		return mn
	case Max:
		return mx
	case RMS:
		return rms
	case PeakToPeak:
		return mx - mn
	case Crest:
		if rms == 0 {
			return 0
		}
		return maxAbs / rms
	case Skewness:
		if flat {
			return 0
		}
		return mom(3) / math.Pow(mom(2), 1.5)
	case Kurtosis:
		if flat {
			return 0
		}
		return mom(4) / (mom(2) * mom(2))
	case Slope:
		var tm float64
		for _, a := range ts {
			tm += a / n
		}
		var sxy, sxx float64
		for i := range v {
			sxy += (ts[i] - tm) * (v[i] - mean)
			sxx += (ts[i] - tm) * (ts[i] - tm)
		}
		if sxx == 0 {
			return 0
		}
		return sxy / sxx
	case Last:
		return v[len(v)-1]
	}
	return math.NaN()
}

func TestSummaryMatchesDirect(t *testing.T) {
	nan := math.NaN()
	cases := map[string][]float64{
		"ramp":          {1, 2, 3, 4, 5},
		"single":        {7},
		"empty":         {},
		"all missing":   {nan, nan},
		"constant":      {0.1, 0.1, 0.1, 0.1},
		"zeros":         {0, 0, 0},
		"negative":      {-3, -1, -2, -8, 4},
		"with missing":  {1, nan, 3, nan, 10, 2},
		"spike":         {1, 1, 1, 1, 1, 1, 1, 50},
		"large offset":  {1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 1},
		"two":           {2, 4},
		"alternating":   {-1, 1, -1, 1, -1, 1},
		"tiny variance": {1, 1 + 1e-9, 1, 1 - 1e-9},
	}
	stats := []Stat{Mean, Std, Min, Max, RMS, PeakToPeak, Crest, Skewness, Kurtosis, Slope, Last, Count}
	for name, x := range cases {
		times := make([]float64, len(x))
		for i := range times {
			times[i] = float64(i) * 0.5 // 2 Hz
		}
		s := Summarize(times, x)
		for _, st := range stats {
			got, want := s.Value(st), direct(st, times, x)
			if !close(got, want) {
				t.Errorf("%s: %s = %v, want %v", name, st, got, want)
			}
		}
	}
}

func close(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestKnownValues(t *testing.T) {
	// Square wave ±1: rms 1, crest 1, kurtosis 1, skew 0.
	s := Summarize(nil, []float64{1, -1, 1, -1})
	for st, want := range map[Stat]float64{RMS: 1, Crest: 1, Kurtosis: 1, Skewness: 0, Std: 1, Mean: 0, PeakToPeak: 2} {
		if got := s.Value(st); !close(got, want) {
			t.Errorf("square wave %s = %v, want %v", st, got, want)
		}
	}
	// Slope over index time when times is nil; per second with times.
	sum := func(ts, x []float64) *Summary { s := Summarize(ts, x); return &s }
	if got := sum(nil, []float64{0, 2, 4}).Value(Slope); got != 2 {
		t.Errorf("slope = %v, want 2", got)
	}
	if got := sum([]float64{0, 10, 20}, []float64{0, 2, 4}).Value(Slope); !close(got, 0.2) {
		t.Errorf("slope = %v, want 0.2", got)
	}
	// Equal timestamps: no time spread -> slope 0.
	if got := sum([]float64{5, 5, 5}, []float64{1, 2, 3}).Value(Slope); got != 0 {
		t.Errorf("slope with equal times = %v, want 0", got)
	}
	// Count of empty is 0, other stats NaN.
	e := Summarize(nil, nil)
	if e.Value(Count) != 0 || !math.IsNaN(e.Value(Mean)) {
		t.Errorf("empty summary: count %v mean %v", e.Value(Count), e.Value(Mean))
	}
}

func TestEWMA(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		x     []float64
		alpha float64
		want  float64
	}{
		{[]float64{1, 2, 3}, 0.5, 0.5*3 + 0.5*(0.5*2+0.5*1)},
		{[]float64{4}, 0.3, 4},
		{[]float64{nan, 4, nan, 6}, 1, 6},
		{[]float64{nan}, 0.3, nan},
		{nil, 0.3, nan},
		{[]float64{2, 2, 2}, 0.3, 2},
	}
	for _, c := range cases {
		if got := EWMAOf(c.x, c.alpha); !close(got, c.want) {
			t.Errorf("EWMAOf(%v, %v) = %v, want %v", c.x, c.alpha, got, c.want)
		}
	}
}

func TestBandPower(t *testing.T) {
	const rate, n = 1024.0, 1024
	x := make([]float64, n)
	for i := range x {
		ti := float64(i) / rate
		x[i] = 2*math.Sin(2*math.Pi*50*ti) + 0.5*math.Sin(2*math.Pi*200*ti) + 1 // DC 1
	}
	w := Waveform{RateHz: rate, Samples: x}
	for _, c := range []struct{ lo, hi, want float64 }{
		{40, 60, 2}, // A²/2
		{150, 250, 0.125},
		{0, 1, 1}, // DC²
		{300, 512, 0},
		{0, 1e9, 1 + 2 + 0.125}, // total = mean(x²)
	} {
		if got := BandPower(w, c.lo, c.hi); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("band [%v,%v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	// Parseval with padding: total equals Σx²/M.
	y := []float64{1, -2, 3, 0.5, math.NaN(), math.Inf(1)} // bad samples count as 0; M = 8
	var sq float64
	for _, v := range y[:4] {
		sq += v * v
	}
	if got := BandPower(Waveform{RateHz: 8, Samples: y}, 0, 100); math.Abs(got-sq/8) > 1e-12 {
		t.Errorf("padded total = %v, want %v", got, sq/8)
	}
	if !math.IsNaN(BandPower(Waveform{RateHz: 8}, 0, 1)) || !math.IsNaN(BandPower(Waveform{Samples: y}, 0, 1)) {
		t.Error("empty waveform or zero rate must give NaN")
	}
	if got := BandPower(Waveform{RateHz: 1, Samples: []float64{3}}, 0, 1); got != 9 {
		t.Errorf("single sample = %v, want 9", got)
	}
}

func TestFFTMatchesDFT(t *testing.T) {
	x := []float64{0.3, -1, 2, 0, 5, -2.5, 1, 1.5}
	spec := PowerSpectrum(x)
	m := len(x)
	for k := 0; k <= m/2; k++ {
		var re, im float64
		for i, v := range x {
			a := -2 * math.Pi * float64(k*i) / float64(m)
			re += v * math.Cos(a)
			im += v * math.Sin(a)
		}
		p := (re*re + im*im) / float64(m*m)
		if k != 0 && k != m/2 {
			p *= 2
		}
		if math.Abs(spec[k]-p) > 1e-12 {
			t.Errorf("bin %d = %v, want %v", k, spec[k], p)
		}
	}
}
