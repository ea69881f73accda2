package inference

import "time"

// finite reports whether every value is neither NaN nor ±Inf (x-x is NaN
// exactly for those).
func finite(v []float32) bool {
	for _, x := range v {
		if x-x != 0 {
			return false
		}
	}
	return true
}

// allFinite is finite for long slices (a batch's outputs): x*0 is 0 for a
// finite x and NaN for NaN or ±Inf, so the sums stay 0 exactly when every
// value is finite; four sums keep the additions independent.
func allFinite(v []float32) bool {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i] * 0
		s1 += v[i+1] * 0
		s2 += v[i+2] * 0
		s3 += v[i+3] * 0
	}
	for ; i < len(v); i++ {
		s0 += v[i] * 0
	}
	return s0+s1+s2+s3 == 0
}

// countNonFinite counts the rows of outs (k values each) with a value that
// is not finite.
func countNonFinite(outs []float32, k int) int {
	n := 0
	for i := 0; i+k <= len(outs); i += k {
		if !finite(outs[i : i+k]) {
			n++
		}
	}
	return n
}

// invalidOutputLogEvery limits the "non-finite model output" log line.
const invalidOutputLogEvery = 10 * time.Second

// invalidOutputs counts rows whose outputs were not finite and logs the
// first such row, at most once per invalidOutputLogEvery.
func (e *Engine) invalidOutputs(m *model, rows []row, outs []float32, bad int) {
	e.met.badOutputs.Add(float64(bad))
	log, suppressed := e.badOutLog.allow(e.cfg.Now(), invalidOutputLogEvery)
	if !log {
		return
	}
	k := m.sc.k
	for i := range rows {
		if o := outs[i*k : (i+1)*k]; !finite(o) {
			e.log.Warn("model output not finite; no prediction", "model", m.id, "device", rows[i].dev.name,
				"outputs", o, "feature_hash", rows[i].hash, "rows_in_batch", bad, "suppressed_since_last_log", suppressed)
			return
		}
	}
}

// rateLog lets a repeated log line through at most once per interval and
// counts the occurrences it held back. Not safe for concurrent use.
type rateLog struct {
	last       time.Time
	suppressed int
}

func (r *rateLog) allow(now time.Time, every time.Duration) (ok bool, suppressed int) {
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.suppressed++
		return false, 0
	}
	r.last, suppressed, r.suppressed = now, r.suppressed, 0
	return true, suppressed
}
