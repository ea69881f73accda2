package sim

import "time"

// Reading is one sample of one machine: what its firmware publishes (Time,
// Seq, Values) plus the hidden ground truth the publisher never sends on
// the telemetry topic.
type Reading struct {
	Device string
	Class  string
	Time   time.Time
	Seq    uint64 // the device's message counter, starts at 1
	Values map[string]float64
	Truth  Truth
}

// Truth is the hidden state of a machine at a reading.
type Truth struct {
	// Health is 1 for a healthy machine, falling to 0 at failure.
	Health float64
	// Degrading is true between the onset of degradation and failure.
	Degrading bool
	// Failed is true from failure until maintenance has reset the machine.
	Failed bool
	// RUL is the remaining useful life, FailureAt - Time (0 while failed,
	// -1 when unknown).
	RUL time.Duration
	// FailureAt is the time of the machine's next failure (or of the
	// current one while Failed); zero when unknown.
	FailureAt time.Time
	// Mode is the failure mode of the current episode (ModeBearing, ...),
	// empty while healthy or when unknown. The mode is drawn at onset.
	Mode string
}
