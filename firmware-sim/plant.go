package sim

import (
	"fmt"
	"strings"
	"time"
)

// Plant is a set of simulated machines sharing a simulated clock. It is
// deterministic given its Config. A Plant is not safe for concurrent use.
type Plant struct {
	cfg      Config
	machines []*machine
	devices  []string
	now      time.Time
}

// NewPlant builds the machines described by cfg (defaults applied).
func NewPlant(cfg Config) (*Plant, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new plant: %w", err)
	}
	p := &Plant{cfg: cfg, now: cfg.Start}
	p.machines = make([]*machine, cfg.Machines)
	p.devices = make([]string, cfg.Machines)
	for i := range cfg.Machines {
		spec, _ := classByName(cfg.Classes[i%len(cfg.Classes)])
		id := DeviceID(spec.name, i)
		p.machines[i] = newMachine(&p.cfg, i, spec, id)
		p.devices[i] = id
	}
	return p, nil
}

// DeviceID is the device id of machine index i of the given class:
// "pump-0003".
func DeviceID(class string, i int) string {
	return fmt.Sprintf("%s-%04d", class, i)
}

// Config returns the plant's configuration with defaults applied.
func (p *Plant) Config() Config { return p.cfg }

// Devices returns the device ids in machine order (a copy).
func (p *Plant) Devices() []string { return append([]string(nil), p.devices...) }

// Now returns the simulated time of the last Step (Config.Start before the
// first Step).
func (p *Plant) Now() time.Time { return p.now }

// Step advances simulated time by dt (negative counts as 0) and returns one
// reading per machine, in machine order, stamped with the new time.
func (p *Plant) Step(dt time.Duration) []Reading {
	return p.StepInto(dt, nil)
}

// StepInto is Step appending to dst (pass dst[:0] to reuse its storage).
func (p *Plant) StepInto(dt time.Duration, dst []Reading) []Reading {
	if dt > 0 {
		p.now = p.now.Add(dt)
	}
	t := p.now
	for _, m := range p.machines {
		m.advance(t)
		m.seq++
		values, truth := m.sample(t)
		dst = append(dst, Reading{Device: m.id, Class: m.class.name, Time: t, Seq: m.seq, Values: values, Truth: truth})
	}
	return dst
}

// Topic expands a topic template: {site}, {line}, {device} and {class} are
// replaced. An empty template means DefaultTopicTemplate.
func Topic(template, site, line, device, class string) string {
	if template == "" {
		template = DefaultTopicTemplate
	}
	return strings.NewReplacer("{site}", site, "{line}", line, "{device}", device, "{class}", class).Replace(template)
}
