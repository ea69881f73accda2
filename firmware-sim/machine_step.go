package sim

import (
	"math"
	"time"
)

// advance processes every health and regime event up to t and integrates
// the bearing temperature.
func (m *machine) advance(t time.Time) {
	for {
		health := m.failAt
		if m.failed {
			health = m.repairAt
		}
		if health.After(t) && m.nextRegimeAt.After(t) {
			break
		}
		if !health.After(m.nextRegimeAt) {
			m.healthEvent()
		} else {
			m.regimeEvent()
		}
	}
	if dt := t.Sub(m.last); dt > 0 {
		target := m.targetTemp(t, m.healthAt(t))
		m.temp += (target - m.temp) * (1 - math.Exp(-float64(dt)/float64(thermalTau)))
		m.last = t
	}
}

func (m *machine) healthEvent() {
	if !m.failed {
		m.failed = true
		m.running = false
		repair := time.Duration((0.5 + m.ev.Float64()) * float64(m.cfg.RepairTime))
		m.repairAt = m.failAt.Add(max(repair, time.Second))
		return
	}
	m.renew(m.repairAt)
}

func (m *machine) regimeEvent() {
	at := m.nextRegimeAt
	switch {
	case m.failed:
		m.nextRegimeAt = at.Add(expDuration(m.ev, meanRegime))
	case m.running && m.ev.Float64() < stopProbability:
		m.running = false
		m.nextRegimeAt = at.Add(expDuration(m.ev, meanStop))
	default:
		if !m.running {
			m.running = true
			m.startedAt = at
		}
		m.load = 0.4 + 0.6*m.ev.Float64()
		m.nextRegimeAt = at.Add(expDuration(m.ev, meanRegime))
	}
}

// healthAt is 1 before onset, falls along 1 - f^1.5 (f = fraction of the
// degradation period elapsed) and is 0 while failed.
func (m *machine) healthAt(t time.Time) float64 {
	if m.failed {
		return 0
	}
	if t.Before(m.onsetAt) {
		return 1
	}
	f := float64(t.Sub(m.onsetAt)) / float64(m.failAt.Sub(m.onsetAt))
	f = min(max(f, 0), 1)
	return 1 - math.Pow(f, 1.5)
}

func ambient(t time.Time) float64 {
	day := float64(t.UnixNano()%int64(24*time.Hour)) / float64(24*time.Hour)
	return ambientMean + ambientSwing*math.Sin(2*math.Pi*(day-0.375))
}

func (m *machine) targetTemp(t time.Time, h float64) float64 {
	temp := ambient(t)
	if m.running && !m.failed {
		e := effects[m.mode]
		temp += m.class.tempRise*(0.5+0.5*m.load) + e.temp*math.Pow(1-h, e.tempPow)
	}
	return temp
}

// sample produces the sensor values and truth at t (after advance(t)).
func (m *machine) sample(t time.Time) (map[string]float64, Truth) {
	h := m.healthAt(t)
	v := make(map[string]float64, len(m.class.sensors))
	if m.running && !m.failed {
		m.sampleRunning(t, 1-h, v)
	} else {
		m.sampleStopped(v)
	}
	v[SensorBearingTemp] = m.temp + m.n(0.2)
	for k, x := range v {
		v[k] = quantize(x, sensorResolution[k])
	}
	return v, m.truth(t, h)
}

func (m *machine) sampleRunning(t time.Time, d float64, v map[string]float64) {
	c, e, load := m.class, effects[m.mode], m.load
	v[SensorSpeed] = c.ratedRPM*(1-c.slip*load)*(1+e.speed*d) + m.n(1.5)
	if e.speedJitter != 0 {
		v[SensorSpeed] += m.n(e.speedJitter * c.ratedRPM * d)
	}
	amps := c.ratedAmps * (c.idleAmps + (1-c.idleAmps)*load) * (1 + e.current*d)
	if t.Sub(m.startedAt) < inrushTime {
		amps *= inrushFactor
	}
	v[SensorCurrent] = amps * (1 + m.n(0.005))
	rms := c.baseRMS * (0.6 + 0.4*load) * (1 + e.rms*math.Pow(d, e.rmsPow))
	v[SensorVibrationRMS] = max(rms*(1+m.n(0.04)), 0.01)
	v[SensorVibrationKurtosis] = max(3+e.kurt*d*(1.4-0.4*d)+m.n(0.12), 1.5)
	if c.pressureBar > 0 {
		v[SensorPressure] = max(c.pressureBar*(0.7+0.3*load)*(1+e.pressure*d)*(1+m.n(0.01)), 0)
	}
	if c.flowM3h > 0 {
		v[SensorFlow] = max(c.flowM3h*load*(1+e.flow*d)*(1+m.n(0.015)), 0)
	}
}

func (m *machine) sampleStopped(v map[string]float64) {
	v[SensorSpeed] = 0
	v[SensorCurrent] = 0
	v[SensorVibrationRMS] = max(0.04+m.n(0.01), 0.01)
	v[SensorVibrationKurtosis] = max(3+m.n(0.2), 1.5)
	if m.class.pressureBar > 0 {
		v[SensorPressure] = 0
	}
	if m.class.flowM3h > 0 {
		v[SensorFlow] = 0
	}
}

func (m *machine) truth(t time.Time, h float64) Truth {
	tr := Truth{Health: quantize(h, 0.0001), Failed: m.failed, FailureAt: m.failAt}
	if m.failed {
		tr.Mode = m.mode
		return tr
	}
	tr.RUL = m.failAt.Sub(t)
	if !t.Before(m.onsetAt) {
		tr.Degrading = true
		tr.Mode = m.mode
	}
	return tr
}

// n draws Gaussian noise with standard deviation sigma x Config.Noise.
func (m *machine) n(sigma float64) float64 {
	if m.cfg.Noise == 0 {
		return 0
	}
	return m.noise.NormFloat64() * sigma * m.cfg.Noise
}

// quantize rounds x to the resolution res (res = 10^-k) so that the
// shortest decimal representation is short: 2.31, not 2.3100000000000005.
func quantize(x, res float64) float64 {
	if res <= 0 {
		return x
	}
	inv := math.Round(1 / res)
	return math.Round(x*inv) / inv
}
