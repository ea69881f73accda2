package trainset

import (
	"fmt"
	"strconv"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/replay"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Row is one training row: the feature row the gateway would score and its
// label.
type Row struct {
	features.Row
	Label float64 // 1: a failure label within the horizon after WindowEnd
}

// Counts says what an extraction did, summed over the partitions read to
// their end. The embedded replay.Counts are the feature windows' counts
// (the same as `edgepm features export` reports).
type Counts struct {
	replay.Counts
	Records     int `json:"records"`      // readings records read
	OutOfRange  int `json:"out_of_range"` // readings with ts outside [from, to)
	Undecodable int `json:"undecodable"`  // records that are not edgepm.readings values
	Duplicates  int `json:"duplicates"`   // resends (edgepm-seq not above the last of the device's gateway)
	Down        int `json:"rows_down"`    // rows dropped: device down, or window not refilled since a repair
	Thinned     int `json:"rows_thinned"` // rows dropped by Every
	Kept        int `json:"rows_kept"`
	Positives   int `json:"rows_positive"` // kept rows labelled 1
	Partitions  int `json:"partitions"`    // partitions read to their end
	Devices     int `json:"devices"`
}

func (c *Counts) add(o Counts) {
	c.Readings += o.Readings
	c.Rows += o.Rows
	c.MissingSensors += o.MissingSensors
	c.NoValues += o.NoValues
	c.OutOfOrder += o.OutOfOrder
	c.Imputed += o.Imputed
	c.Records += o.Records
	c.OutOfRange += o.OutOfRange
	c.Undecodable += o.Undecodable
	c.Duplicates += o.Duplicates
	c.Down += o.Down
	c.Thinned += o.Thinned
	c.Kept += o.Kept
	c.Positives += o.Positives
	c.Partitions += o.Partitions
	c.Devices += o.Devices
}

// devState is what a partition keeps per device besides its window.
type devState struct {
	labels  *deviceLabels
	gateway string
	seq     uint64 // last edgepm-seq of gateway
	kept    int64  // window end of the last kept row, unix ms; -1: none
	repair  int64  // last maintenance at or before the newest reading
	since   int    // readings the window accepted since repair
}

// partition extracts the rows of one partition. Not safe for concurrent use.
type partition struct {
	labels labelIndex
	win    features.WindowConfig
	x      *replay.Exporter
	devs   map[string]*devState
	rows   []Row
	counts Counts
	rd     replay.Reading // decode target, reused

	from, to, horizon, every, duration int64 // unix ms
}

func newPartition(cfg *Config, labels labelIndex) (*partition, error) {
	x, err := replay.NewExporter(cfg.Plan, cfg.Window)
	if err != nil {
		return nil, err
	}
	return &partition{labels: labels, win: cfg.Window, x: x, devs: map[string]*devState{},
		from: cfg.From.UnixMilli(), to: cfg.To.UnixMilli(), horizon: cfg.Horizon.Milliseconds(),
		every: cfg.Every.Milliseconds(), duration: time.Duration(cfg.Window.Duration).Milliseconds()}, nil
}

// add consumes one readings record. Bad records are counted; the error is
// a failure of the feature code itself.
func (p *partition) add(r *kgo.Record) error {
	p.counts.Records++
	if err := replay.DecodeReading(r.Value, &p.rd); err != nil {
		p.counts.Undecodable++
		return nil
	}
	ts := p.rd.Time.UnixMilli()
	if ts < p.from || ts >= p.to {
		p.counts.OutOfRange++
		return nil
	}
	d := p.dev(p.rd.Device)
	if duplicate(d, r.Headers) {
		p.counts.Duplicates++
		return nil
	}
	if m := d.labels.lastRepair(ts); m != d.repair {
		d.repair, d.since = m, 0
	}
	skipped := p.x.Counts.NoValues + p.x.Counts.OutOfOrder
	row, ok, err := p.x.Push(p.rd)
	if err != nil {
		return fmt.Errorf("partition %d: %w", r.Partition, err)
	}
	if p.x.Counts.NoValues+p.x.Counts.OutOfOrder == skipped {
		d.since++
	}
	if ok {
		p.keep(d, row)
	}
	return nil
}

func (p *partition) dev(name string) *devState {
	d := p.devs[name]
	if d == nil {
		d = &devState{labels: p.labels[name], kept: -1}
		p.devs[name] = d
	}
	return d
}

// duplicate reports whether the record is a resend: its gateway's
// edgepm-seq is not above the last one seen for the device (a device's
// first occurrences are in sequence order, kafka-records.md). Records
// without the header are never duplicates.
func duplicate(d *devState, hs []kgo.RecordHeader) bool {
	var gw []byte
	var seq uint64
	for _, h := range hs {
		switch h.Key {
		case wire.HeaderGateway:
			gw = h.Value
		case wire.HeaderSeq:
			seq, _ = strconv.ParseUint(string(h.Value), 10, 64)
		}
	}
	if seq == 0 {
		return false
	}
	if string(gw) == d.gateway {
		if seq <= d.seq {
			return true
		}
	} else {
		d.gateway = string(gw)
	}
	d.seq = seq
	return false
}

// keep labels row and keeps it unless the device is down, its window still
// holds readings from before a repair, or Every thins it out.
func (p *partition) keep(d *devState, row features.Row) {
	end := row.WindowEnd.UnixMilli()
	if d.labels.down(end) || (d.repair > 0 && !p.refilled(d, end)) {
		p.counts.Down++
		return
	}
	if p.every > 0 && d.kept >= 0 && end-d.kept < p.every {
		p.counts.Thinned++
		return
	}
	d.kept = end
	r := Row{Row: row}
	if d.labels.failureWithin(end, p.horizon) {
		r.Label = 1
		p.counts.Positives++
	}
	p.counts.Kept++
	p.rows = append(p.rows, r)
}

// refilled reports whether the window holds only readings since the repair.
func (p *partition) refilled(d *devState, end int64) bool {
	return d.since >= p.win.Size || (p.win.Kind == features.KindDuration && end-d.repair > p.duration)
}

// finish returns the partition's counts with the exporter's folded in.
func (p *partition) finish() Counts {
	c := p.counts
	c.Counts = p.x.Counts
	c.Partitions = 1
	c.Devices = len(p.devs)
	return c
}
