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
	machines []*machine // the initial ones, then the added ones
	now      time.Time
}

// NewPlant builds the machines described by cfg (defaults applied),
// including those commissioned later (Config.AddMachines).
func NewPlant(cfg Config) (*Plant, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new plant: %w", err)
	}
	p := &Plant{cfg: cfg, now: cfg.Start}
	p.machines = make([]*machine, 0, cfg.Machines+cfg.AddMachines)
	for i := range cfg.Machines {
		idx, spec := cfg.FirstMachine+i, roundRobin(cfg.Classes, i)
		p.machines = append(p.machines, newMachine(&p.cfg, idx, spec, DeviceID(spec.name, idx)))
	}
	at := cfg.Start.Add(cfg.AddAt)
	for j := range cfg.AddMachines {
		idx, spec := cfg.FirstMachine+cfg.Machines+j, roundRobin(cfg.AddClasses, j)
		p.machines = append(p.machines, newMachineAt(&p.cfg, idx, spec, DeviceID(spec.name, idx), at))
	}
	return p, nil
}

// roundRobin returns the class of the i-th machine of a validated list.
func roundRobin(names []string, i int) *classSpec {
	spec, _ := classByName(names[i%len(names)])
	return spec
}

// DeviceID is the device id of machine index i of the given class:
// "pump-0003".
func DeviceID(class string, i int) string {
	return fmt.Sprintf("%s-%04d", class, i)
}

// Config returns the plant's configuration with defaults applied.
func (p *Plant) Config() Config { return p.cfg }

// Devices returns the device ids of the machines in service at Now(), in
// machine order (a new slice). A machine added part-way (Config.AddAt) is
// listed from its commissioning on.
func (p *Plant) Devices() []string {
	out := make([]string, 0, len(p.machines))
	for _, m := range p.machines {
		if !p.now.Before(m.since) {
			out = append(out, m.id)
		}
	}
	return out
}

// Now returns the simulated time of the last Step (Config.Start before the
// first Step).
func (p *Plant) Now() time.Time { return p.now }

// Step advances simulated time by dt (negative counts as 0) and returns one
// reading per machine in service at the new time (Devices), in machine
// order, stamped with that time.
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
		if t.Before(m.since) {
			continue // not commissioned yet
		}
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
