// Package sim is firmware-sim's library: a simulated plant whose machines
// degrade, fail and are repaired, the payload encoders edgepm accepts, fault
// injection, replay of the NASA C-MAPSS run-to-failure data, a rate-limited
// publisher (MQTT or any Sink), ground-truth output and the scoring of
// edgepm's alerts against that truth.
//
// # Basics
//
// A Plant (NewPlant) holds Config.Machines machines of the configured
// classes (pump, motor, fan, compressor, conveyor). Each machine has a hidden
// health state: healthy until a Weibull-distributed onset of degradation,
// then a failure mode (bearing, imbalance, cavitation, winding, valve, belt)
// moves its sensors (vibration RMS and kurtosis, bearing temperature,
// current, pressure/flow, speed) until it fails (it stops: speed and current
// 0), stays down for a repair time and is reset by maintenance. Load
// changes, stops and starts (with inrush current) and Gaussian noise overlay
// this.
// Plant.Step(dt) advances simulated time and returns one Reading per
// machine in service with its Truth (health, RUL, failure time). A plant can
// change part-way: Config.AddMachines new machines, of other classes if
// wanted, are commissioned at Start+AddAt. Config.FirstMachine offsets the
// machine indexes, so that two plants (two lines) have distinct device ids.
//
// EncodePayload / EncodeBatch produce the v1 JSON payloads
// (docs/firmware-sim.md); FaultPayload and FaultStream produce each kind of
// faulty input; an Injector applies faults at configured rates to a stream.
// Publisher paces readings from a Source (a Plant, a C-MAPSS replay) to a
// Sink (MQTTSink, WriterSink) at a target rate; a Labeler files the truth's
// failures and repairs as late edgepm.labels records to a LabelSink
// (KafkaLabelSink). Score computes precision,
// recall, lead times and false alarms of alerts against the truth.
//
// # Guarantees
//
// Determinism: the same Config produces the same readings, bit for bit, on
// every platform Go supports (math/rand/v2 PCG streams, one pair per
// machine keyed by (Seed, machine index), so adding machines does not change
// the existing ones; the failure schedule does not depend on the step size).
// The encoders are deterministic (sorted keys, shortest round-trip numbers).
// An Injector with the same seed injects the same faults into the same
// stream. Nothing in this package panics on bad input.
//
// # Concurrency
//
// Plant, Injector, Limiter, Labeler and Publisher are not safe for concurrent use;
// Publisher.Run is one loop. MQTTSink is safe for concurrent Send. Calls
// that block: Limiter.Wait (until the rate allows, or ctx ends),
// Publisher.Run (until the source ends, the count is reached or ctx ends),
// MQTTSink.Send (when the in-flight window is full), MQTTSink.Close (flushes
// up to its timeout).
package sim
