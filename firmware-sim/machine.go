package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Operating-regime parameters (simulated time).
const (
	meanRegime      = 4 * time.Hour    // mean time between load changes
	stopProbability = 0.15             // chance that a regime change is a stop
	meanStop        = 45 * time.Minute // mean stop duration
	thermalTau      = 15 * time.Minute // bearing temperature time constant
	inrushTime      = 5 * time.Second  // starting current lasts this long
	inrushFactor    = 5.5
	ambientMean     = 22.0
	ambientSwing    = 4.0
)

// machine is one simulated machine. Its two random streams are independent:
// ev draws the health and regime events (so the failure schedule does not
// depend on the sampling interval), noise draws the measurement noise.
type machine struct {
	id    string
	class *classSpec
	cfg   *Config
	ev    *rand.Rand
	noise *rand.Rand
	seq   uint64
	since time.Time // commissioned: no readings before

	onsetAt, failAt, repairAt time.Time
	mode                      string
	failed                    bool

	running      bool
	load         float64
	nextRegimeAt time.Time
	startedAt    time.Time
	temp         float64 // bearing temperature state
	last         time.Time
}

// newMachine returns a machine in service at cfg.Start, part-way through
// its life.
func newMachine(cfg *Config, idx int, class *classSpec, id string) *machine {
	m := machineStreams(cfg, idx, class, id)
	m.since = cfg.Start
	m.initLife(cfg.Start)
	m.running = true
	m.load = 0.55 + 0.45*m.ev.Float64()
	m.nextRegimeAt = cfg.Start.Add(expDuration(m.ev, meanRegime))
	m.startedAt = cfg.Start.Add(-time.Hour)
	m.last = cfg.Start
	m.temp = m.targetTemp(cfg.Start, m.healthAt(cfg.Start))
	return m
}

// newMachineAt returns a machine commissioned new at t: healthy, at the
// start of a fresh life, starting (inrush) with its bearing at ambient.
func newMachineAt(cfg *Config, idx int, class *classSpec, id string, t time.Time) *machine {
	m := machineStreams(cfg, idx, class, id)
	m.since = t
	m.renew(t)
	m.nextRegimeAt = t.Add(expDuration(m.ev, meanRegime))
	m.last = t
	m.temp = ambient(t)
	return m
}

// machineStreams returns a machine with its random streams, keyed by
// (Seed, idx), and no state yet.
func machineStreams(cfg *Config, idx int, class *classSpec, id string) *machine {
	seed, k := uint64(cfg.Seed), uint64(idx)
	return &machine{
		id:    id,
		class: class,
		cfg:   cfg,
		ev:    rand.New(rand.NewPCG(seed, k*2+0x9e3779b97f4a7c15)),
		noise: rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d, k*2+1)),
	}
}

// initLife draws the first episode so that the fleet starts at random ages:
// some machines are already degrading at the start.
func (m *machine) initLife(start time.Time) {
	onset := m.drawOnset()
	deg := m.drawDegradation()
	age := time.Duration(m.ev.Float64() * 0.9 * float64(onset+deg))
	m.onsetAt = start.Add(onset - age)
	m.failAt = m.onsetAt.Add(deg)
	m.mode = m.class.modes[m.ev.IntN(len(m.class.modes))]
}

// renew starts a new life at t (after maintenance).
func (m *machine) renew(t time.Time) {
	m.failed = false
	m.onsetAt = t.Add(m.drawOnset())
	m.failAt = m.onsetAt.Add(m.drawDegradation())
	m.mode = m.class.modes[m.ev.IntN(len(m.class.modes))]
	m.running = true
	m.startedAt = t
	m.load = 0.55 + 0.45*m.ev.Float64()
}

// drawOnset: Weibull, shape 1.5, with the configured mean.
func (m *machine) drawOnset() time.Duration {
	const shape = 1.5
	scale := float64(m.cfg.MeanTimeToOnset) / math.Gamma(1+1/shape)
	u := 1 - m.ev.Float64() // (0,1]
	return time.Duration(scale * math.Pow(-math.Log(u), 1/shape))
}

// drawDegradation: log-normal, sigma 0.35, with the configured mean; at
// least a minute so the progression is visible.
func (m *machine) drawDegradation() time.Duration {
	const sigma = 0.35
	median := float64(m.cfg.MeanDegradation) / math.Exp(sigma*sigma/2)
	d := time.Duration(median * math.Exp(sigma*m.ev.NormFloat64()))
	return max(d, time.Minute)
}

func expDuration(r *rand.Rand, mean time.Duration) time.Duration {
	return max(time.Duration(r.ExpFloat64()*float64(mean)), time.Second)
}
