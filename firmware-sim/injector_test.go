package sim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func plantReadings(t *testing.T, machines, steps int) []Reading {
	t.Helper()
	p, err := NewPlant(Config{Seed: 11, Machines: machines})
	if err != nil {
		t.Fatal(err)
	}
	var rs []Reading
	for range steps {
		rs = append(rs, p.Step(time.Second)...)
	}
	return rs
}

func applyAll(in *Injector, rs []Reading) []Message {
	var out []Message
	for _, r := range rs {
		out = in.Apply(r, "t/"+r.Device, out)
	}
	return in.Flush(out)
}

// Each injected fault appears in the stream as claimed.
func TestInjectorEachKind(t *testing.T) {
	rs := plantReadings(t, 2, 100)
	for _, kind := range FaultKinds() {
		in, err := NewInjector(FaultConfig{Rates: map[FaultKind]float64{kind: 0.1}, Seed: 3, StuckFor: 5, OversizeBytes: 4096, BurstSize: 7, StormCycles: 2})
		if err != nil {
			t.Fatal(err)
		}
		msgs := applyAll(in, rs)
		n := in.Counts()[kind]
		if n == 0 {
			t.Fatalf("%v: none injected", kind)
		}
		var faulty, control, payloads int
		for _, m := range msgs {
			switch {
			case m.Payload == nil:
				control++
				if (kind == FaultBurst && m.Burst != 7) || (kind == FaultDisconnect && m.Cycles != 2) {
					t.Errorf("%v: control %+v", kind, m)
				}
			case m.Fault == kind:
				faulty++
			}
			if m.Payload != nil {
				payloads++
			}
		}
		switch kind {
		case FaultMalformed:
			checkAll(t, msgs, kind, func(p []byte) bool { return !json.Valid(p) })
		case FaultOversized:
			checkAll(t, msgs, kind, func(p []byte) bool { return len(p) >= 4096 && json.Valid(p) })
		case FaultDuplicate:
			if faulty != 2*int(n) || payloads != len(rs)+int(n) {
				t.Errorf("duplicate: %d faulty, %d payloads for %d readings, %d injected", faulty, payloads, len(rs), n)
			}
			for i := 0; i < len(msgs); i++ {
				if msgs[i].Fault == kind {
					if i+1 == len(msgs) || !bytes.Equal(msgs[i].Payload, msgs[i+1].Payload) {
						t.Errorf("duplicate %d differs", i)
					}
					i++
				}
			}
		case FaultOutOfOrder:
			// a message held at the end is flushed last: no swap (2 devices)
			if swaps := outOfOrder(t, msgs); payloads != len(rs) || swaps > int(n) || swaps < int(n)-2 {
				t.Errorf("out_of_order: %d payloads, %d swaps, %d injected", payloads, outOfOrder(t, msgs), n)
			}
		case FaultStuck:
			if faulty < int(n)*2 {
				t.Errorf("stuck: %d faulty messages for %d episodes", faulty, n)
			}
		case FaultBurst, FaultDisconnect:
			if control != int(n) || payloads != len(rs) {
				t.Errorf("%v: %d control for %d injected, %d payloads", kind, control, n, payloads)
			}
		default:
			if faulty != int(n) || payloads != len(rs) {
				t.Errorf("%v: %d faulty, %d injected, %d payloads", kind, faulty, n, payloads)
			}
		}
	}
}

func checkAll(t *testing.T, msgs []Message, kind FaultKind, ok func([]byte) bool) {
	t.Helper()
	for _, m := range msgs {
		if m.Fault == kind && !ok(m.Payload) {
			t.Errorf("%v: bad payload %.200s", kind, m.Payload)
		}
	}
}

// outOfOrder counts per-topic seq decreases.
func outOfOrder(t *testing.T, msgs []Message) int {
	t.Helper()
	last := map[string]uint64{}
	n := 0
	for _, m := range msgs {
		v, err := decodeStrict(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if *v.Seq < last[m.Topic] {
			n++
		}
		last[m.Topic] = *v.Seq
	}
	return n
}

func TestInjectorStuckHoldsValue(t *testing.T) {
	rs := plantReadings(t, 1, 30)
	in, _ := NewInjector(FaultConfig{Rates: map[FaultKind]float64{FaultStuck: 1}, StuckFor: 10})
	msgs := applyAll(in, rs)
	first, _ := decodeStrict(msgs[0].Payload)
	for i, m := range msgs[:10] {
		v, _ := decodeStrict(m.Payload)
		if v.Values[SensorVibrationRMS] != first.Values[SensorVibrationRMS] || m.Fault != FaultStuck || *v.Seq != uint64(i+1) {
			t.Fatalf("message %d: %s (%v)", i, m.Payload, m.Fault)
		}
	}
	if in.Counts()[FaultStuck] != 3 {
		t.Errorf("episodes %d, want 3", in.Counts()[FaultStuck])
	}
}

func TestInjectorDeterministic(t *testing.T) {
	rs := plantReadings(t, 3, 200)
	rates := map[FaultKind]float64{}
	for _, k := range FaultKinds() {
		rates[k] = 0.02
	}
	run := func(seed uint64) []byte {
		in, err := NewInjector(FaultConfig{Rates: rates, Seed: seed, OversizeBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		for _, m := range applyAll(in, rs) {
			b = append(append(append(b, m.Topic...), m.Payload...), byte(m.Fault))
		}
		return b
	}
	if !bytes.Equal(run(1), run(1)) || bytes.Equal(run(1), run(2)) {
		t.Fatal("injector not deterministic by seed")
	}
}

func TestNewInjectorBad(t *testing.T) {
	for _, rates := range []map[FaultKind]float64{{FaultNaN: -0.1}, {FaultNaN: 1.5}, {FaultNaN: 0.6, FaultMissing: 0.6}} {
		if _, err := NewInjector(FaultConfig{Rates: rates}); err == nil {
			t.Errorf("%v accepted", rates)
		}
	}
}
