package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

// LabelSink receives the maintenance records a Labeler files
// (KafkaLabelSink writes them to the edgepm.labels topic).
type LabelSink interface {
	SendLabel(ctx context.Context, l wire.Label) error
	// Close flushes and releases the sink.
	Close() error
}

// Labeler turns the ground truth of the readings it observes into the
// maintenance records a CMMS would file, as real work orders are: late.
// A machine first seen failed gives a failure label (ts = its failure
// time); its first reading after the repair gives a maintenance label (ts =
// that reading's time). Each is reported Lag of simulated time after its ts
// and sent to the sink when the simulated clock (the observed readings'
// time) reaches that. Labels not yet due when the run ends are not sent
// (the work order is not filed yet): Pending counts them.
// Not safe for concurrent use (the Publisher calls it from its loop).
type Labeler struct {
	lag     time.Duration
	sink    LabelSink
	failed  map[string]bool
	pending []wire.Label // ascending Reported
	sent    int
}

// NewLabeler returns a labeler that files labels lag after they happen.
func NewLabeler(sink LabelSink, lag time.Duration) (*Labeler, error) {
	if lag < 0 {
		return nil, fmt.Errorf("new labeler: %w: labels lag: must be >= 0, got %s", ErrConfig, lag)
	}
	return &Labeler{lag: lag, sink: sink, failed: map[string]bool{}}, nil
}

// Observe records r's truth and sends the labels due at r.Time. It
// returns the first sink error (the label is not retried).
func (l *Labeler) Observe(ctx context.Context, r Reading) error {
	switch was := l.failed[r.Device]; {
	case r.Truth.Failed && !was:
		l.failed[r.Device] = true
		at := r.Truth.FailureAt
		if at.IsZero() {
			at = r.Time
		}
		l.file(r.Device, at, wire.LabelFailure, "failure: "+modeText(r.Truth.Mode)+", machine stopped")
	case !r.Truth.Failed && was:
		delete(l.failed, r.Device)
		l.file(r.Device, r.Time, wire.LabelMaintenance, "repaired, back in service")
	}
	return l.flush(ctx, r.Time)
}

func modeText(m string) string {
	if m == "" {
		return "unknown mode"
	}
	return m
}

func (l *Labeler) file(device string, at time.Time, kind, text string) {
	lb := wire.Label{V: wire.Version, Device: device, TS: at.UnixMilli(), Kind: kind,
		Reported: at.Add(l.lag).UnixMilli(), Text: text}
	i, _ := slices.BinarySearchFunc(l.pending, lb.Reported+1, func(p wire.Label, t int64) int { return compareInt(p.Reported, t) })
	l.pending = slices.Insert(l.pending, i, lb)
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// flush sends the labels reported at or before now, in report order.
func (l *Labeler) flush(ctx context.Context, now time.Time) error {
	n := 0
	for n < len(l.pending) && l.pending[n].Reported <= now.UnixMilli() {
		n++
	}
	due := l.pending[:n]
	var err error
	for _, lb := range due {
		if serr := l.sink.SendLabel(ctx, lb); serr != nil && err == nil {
			err = fmt.Errorf("send %s label of %s: %w", lb.Kind, lb.Device, serr)
		}
		l.sent++
	}
	l.pending = slices.Delete(l.pending, 0, n)
	return err
}

// Sent returns the number of labels handed to the sink.
func (l *Labeler) Sent() int { return l.sent }

// Pending returns the number of labels filed but not yet due.
func (l *Labeler) Pending() int { return len(l.pending) }
