package features

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// Waveform is a block of evenly spaced samples of one channel.
type Waveform struct {
	RateHz  float64
	Samples []float64
}

// BandPower returns the mean-square power of w in [lo, hi) Hz: the samples
// are zero padded to the next power of two M, transformed, and the one-sided
// power |X_k|²/M² (doubled for 0 < k < M/2) summed over bins whose frequency
// k·rate/M lies in the band. Summed over all bands it equals Σx²/M (mean(x²)
// when no padding was needed). NaN/Inf samples count as 0. It returns NaN for
// an empty waveform or a non-positive rate.
func BandPower(w Waveform, lo, hi float64) float64 {
	spec := PowerSpectrum(w.Samples)
	if spec == nil || !(w.RateHz > 0) {
		return math.NaN()
	}
	return bandSum(spec, w.RateHz, lo, hi)
}

func bandSum(spec []float64, rate, lo, hi float64) float64 {
	m := float64(2 * (len(spec) - 1))
	if len(spec) == 1 {
		m = 1
	}
	var e float64
	for k, p := range spec {
		f := float64(k) * rate / m
		if f >= lo && f < hi {
			e += p
		}
	}
	return e
}

// PowerSpectrum returns the one-sided power spectrum (M/2+1 bins, M the
// padded length) scaled as described for BandPower, or nil when samples is
// empty.
func PowerSpectrum(samples []float64) []float64 {
	if len(samples) == 0 {
		return nil
	}
	m := 1 << bits.Len(uint(len(samples)-1))
	x := make([]complex128, m)
	for i, v := range samples {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			x[i] = complex(v, 0)
		}
	}
	fft(x)
	if m == 1 {
		return []float64{real(x[0]) * real(x[0])}
	}
	out := make([]float64, m/2+1)
	mm := float64(m) * float64(m)
	for k := range out {
		a := cmplx.Abs(x[k])
		p := a * a / mm
		if k != 0 && k != m/2 {
			p *= 2
		}
		out[k] = p
	}
	return out
}

// fft is an in-place iterative radix-2 Cooley-Tukey transform; len(x) must
// be a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				a, b := x[start+k], wk*x[start+k+size/2]
				x[start+k], x[start+k+size/2] = a+b, a-b
				wk *= w
			}
		}
	}
}
