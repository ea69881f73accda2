package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
)

// Waveform synthesises a block of n vibration velocity samples (mm/s) at
// rateHz for reading r. Its spectrum follows the machine's state: running
// speed 1x and 2x lines, a bearing outer-race defect (BPFO = 3.58x) as
// impulses ringing at a 3 kHz resonance whose strength follows kurtosis,
// extra 1x for imbalance, 100 Hz for winding faults, broadband noise for
// cavitation; the block is scaled to r's vibration_rms. Deterministic from
// (device, seq). Returns nil for n <= 0 or rateHz <= 0.
func Waveform(r Reading, rateHz, n int) []float64 {
	if n <= 0 || rateHz <= 0 || n > 1<<22 {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(r.Device))
	rng := rand.New(rand.NewPCG(h.Sum64(), r.Seq))
	out := make([]float64, n)
	f1 := r.Values[SensorSpeed] / 60
	impulse := math.Max(r.Values[SensorVibrationKurtosis]-3, 0)
	a1, a2, line := 1.0, 0.35, 0.0
	switch r.Truth.Mode {
	case ModeImbalance:
		a1 += 3 * (1 - r.Truth.Health)
	case ModeWinding:
		line = 2 * (1 - r.Truth.Health)
	}
	noise := 0.15
	if r.Truth.Mode == ModeCavitation {
		noise += 1.5 * (1 - r.Truth.Health)
	}
	dt := 1 / float64(rateHz)
	phase := rng.Float64() * 2 * math.Pi
	bpfo := 3.58 * f1
	for i := range out {
		t := float64(i) * dt
		var v float64
		if f1 > 0 {
			v = a1*math.Sin(2*math.Pi*f1*t+phase) + a2*math.Sin(4*math.Pi*f1*t+2*phase) +
				line*math.Sin(2*math.Pi*100*t)
			if impulse > 0 {
				since := math.Mod(t*bpfo+phase/(2*math.Pi), 1) / bpfo // time since last impact
				v += impulse * 1.2 * math.Exp(-since*800) * math.Sin(2*math.Pi*3000*since)
			}
		}
		out[i] = v + noise*rng.NormFloat64()
	}
	scaleToRMS(out, r.Values[SensorVibrationRMS])
	return out
}

func scaleToRMS(x []float64, target float64) {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	rms := math.Sqrt(ss / float64(len(x)))
	if rms == 0 || math.IsNaN(target) || math.IsInf(target, 0) {
		return
	}
	k := target / rms
	for i := range x {
		x[i] = quantize(x[i]*k, 0.001)
	}
}

// EncodeWaveform returns the waveform payload of r:
//
//	{"ts":...,"seq":...,"waveform":{"channel":"vibration","rate_hz":25600,"samples":[...]}}
func EncodeWaveform(r Reading, rateHz, n int) []byte {
	samples := Waveform(r, rateHz, n)
	dst := make([]byte, 0, 64+7*len(samples))
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"waveform":{"channel":"vibration","rate_hz":`...)
	dst = strconv.AppendInt(dst, int64(rateHz), 10)
	dst = append(dst, `,"samples":[`...)
	for i, v := range samples {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendFloat(dst, v)
	}
	return append(dst, "]}}"...)
}
