package trainset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deviceLabels are one device's failure and maintenance times (unix ms),
// ascending. A nil *deviceLabels is a device without labels.
type deviceLabels struct {
	failures, repairs []int64
	n                 int // labels of the device, of every kind, as read
}

// labelIndex holds every device's labels; read-only once built, so the
// partition workers share it.
type labelIndex map[string]*deviceLabels

// LabelCounts says what was read from the labels topic.
type LabelCounts struct {
	Labels      int `json:"labels"`      // decoded labels
	BadLabels   int `json:"bad_labels"`  // records that are not edgepm.labels values (skipped)
	Inspections int `json:"inspections"` // inspection_ok labels (not used for training)
	// UnknownDeviceLabels counts labels of devices with no reading in the
	// partitions read (ignored).
	UnknownDeviceLabels int `json:"unknown_device_labels"`
}

func (ix labelIndex) add(l wire.Label) {
	d := ix[l.Device]
	if d == nil {
		d = &deviceLabels{}
		ix[l.Device] = d
	}
	d.n++
	switch l.Kind {
	case wire.LabelFailure:
		d.failures = append(d.failures, l.TS)
	case wire.LabelMaintenance:
		d.repairs = append(d.repairs, l.TS)
	}
}

func (ix labelIndex) sort() {
	for _, d := range ix {
		slices.Sort(d.failures)
		d.failures = slices.Compact(d.failures) // a work order filed twice
		slices.Sort(d.repairs)
		d.repairs = slices.Compact(d.repairs)
	}
}

// failureWithin reports whether a failure falls in [t, t+horizon].
func (d *deviceLabels) failureWithin(t, horizon int64) bool {
	if d == nil {
		return false
	}
	i, _ := slices.BinarySearch(d.failures, t)
	return i < len(d.failures) && d.failures[i] <= t+horizon
}

// latest returns the last of times at or before t, and whether there is one.
func latest(times []int64, t int64) (int64, bool) {
	i, found := slices.BinarySearch(times, t)
	if found {
		return t, true
	}
	if i == 0 {
		return 0, false
	}
	return times[i-1], true
}

// down reports whether the device is failed at t: a failure at or before t
// with no maintenance between it and t.
func (d *deviceLabels) down(t int64) bool {
	if d == nil {
		return false
	}
	f, ok := latest(d.failures, t)
	if !ok {
		return false
	}
	m, ok := latest(d.repairs, t)
	return !ok || m < f
}

// lastRepair returns the last maintenance at or before t (0 when none).
func (d *deviceLabels) lastRepair(t int64) int64 {
	if d == nil {
		return 0
	}
	m, _ := latest(d.repairs, t)
	return m
}

// readLabels reads the whole labels topic (to its end offsets when called).
// A labels topic that does not exist holds no labels.
func readLabels(ctx context.Context, cfg Config, adm *kadm.Client) (labelIndex, LabelCounts, error) {
	ix, counts := labelIndex{}, LabelCounts{}
	spans, err := listSpans(ctx, adm, cfg.LabelsTopic)
	if errors.Is(err, errNoTopic) {
		return ix, counts, nil
	}
	if err != nil {
		return nil, counts, fmt.Errorf("labels: %w", err)
	}
	left := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for p, s := range spans {
		if !s.empty() {
			left[p] = s.end
			offsets[p] = kgo.NewOffset().At(s.start)
		}
	}
	if len(left) == 0 {
		return ix, counts, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.LabelsTopic: offsets}))
	if err != nil {
		return nil, counts, fmt.Errorf("labels: %w", err)
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, counts, fmt.Errorf("read labels from %s: %w", cfg.LabelsTopic, err)
		}
		if err := fs.Err0(); err != nil {
			return nil, counts, fmt.Errorf("read labels from %s: %w", cfg.LabelsTopic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			l, err := wire.DecodeLabel(r.Value)
			if err != nil {
				counts.BadLabels++
				return
			}
			counts.Labels++
			if l.Kind == wire.LabelInspectionOK {
				counts.Inspections++
			}
			ix.add(l)
		})
	}
	ix.sort()
	return ix, counts, nil
}

// unknown counts the labels of devices not in seen.
func (ix labelIndex) unknown(seen map[string]bool) int {
	n := 0
	for dev, d := range ix {
		if !seen[dev] {
			n += d.n
		}
	}
	return n
}

// failuresIn counts the failures in [from, to) of the devices in seen.
func (ix labelIndex) failuresIn(from, to time.Time, seen map[string]bool) int {
	n := 0
	for dev, d := range ix {
		if !seen[dev] {
			continue
		}
		for _, f := range d.failures {
			if f >= from.UnixMilli() && f < to.UnixMilli() {
				n++
			}
		}
	}
	return n
}
