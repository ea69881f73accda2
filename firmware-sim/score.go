package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// Event is one prediction or alert of edgepm, as read from Kafka.
type Event struct {
	Device string
	Time   time.Time // "ts", else "window_end"
	Score  float64
	State  string // "raised" or "cleared" for alerts, "" for predictions
}

// ParseEvent decodes a Kafka record value of edgepm.predictions or
// edgepm.alerts: a JSON object with "device", a time in "ts" or
// "window_end" (unix milliseconds or RFC 3339), "score" and, for alerts,
// "state". This is the one place that knows edgepm's record layout.
func ParseEvent(value []byte) (Event, error) {
	var v struct {
		Device    string          `json:"device"`
		TS        json.RawMessage `json:"ts"`
		WindowEnd json.RawMessage `json:"window_end"`
		Time      json.RawMessage `json:"time"`
		Score     float64         `json:"score"`
		State     string          `json:"state"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return Event{}, fmt.Errorf("parse event: %w", err)
	}
	ev := Event{Device: v.Device, Score: v.Score, State: v.State}
	for _, raw := range []json.RawMessage{v.TS, v.WindowEnd, v.Time} {
		if t, ok := parseTime(raw); ok {
			ev.Time = t
			break
		}
	}
	if ev.Device == "" || ev.Time.IsZero() {
		return ev, fmt.Errorf("parse event: %w: need device and ts/window_end in %.200s", ErrFormat, value)
	}
	return ev, nil
}

func parseTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return time.UnixMilli(ms), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Failure is one failure of a machine in the ground truth.
type Failure struct {
	Device     string
	At         time.Time
	RepairedAt time.Time // first reading after repair; zero if not seen
}

// GroundTruth is what scoring needs from a truth file: the failures and the
// observed time span of each device.
type GroundTruth struct {
	Failures []Failure
	Span     map[string][2]time.Time // device -> first, last reading time
	// Upcoming is each device's next failure after its last reading (from
	// the last line's failure_at); an alert within the horizon before it
	// is not a false alarm, though the failure is not counted for recall.
	Upcoming map[string]time.Time
}

// ReadTruth reads truth JSON lines (AppendTruth). A failure is recorded
// for each failure_at of a device for which a line with "failed":true was
// seen.
func ReadTruth(r io.Reader) (*GroundTruth, error) {
	gt := &GroundTruth{Span: map[string][2]time.Time{}, Upcoming: map[string]time.Time{}}
	open := map[string]int{} // device -> index of its unrepaired failure
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var v struct {
			Device    string `json:"device"`
			TS        int64  `json:"ts"`
			Failed    bool   `json:"failed"`
			FailureAt int64  `json:"failure_at"`
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v.Device == "" {
			return nil, fmt.Errorf("read truth: line %d: %w: %v", line, ErrFormat, err)
		}
		t := time.UnixMilli(v.TS)
		span, ok := gt.Span[v.Device]
		if !ok || t.Before(span[0]) {
			span[0] = t
		}
		span[1] = t
		gt.Span[v.Device] = span
		if v.FailureAt > v.TS && !v.Failed {
			gt.Upcoming[v.Device] = time.UnixMilli(v.FailureAt)
		} else {
			delete(gt.Upcoming, v.Device)
		}
		key := fmt.Sprintf("%s/%d", v.Device, v.FailureAt)
		if v.Failed && !seen[key] {
			seen[key] = true
			open[v.Device] = len(gt.Failures)
			gt.Failures = append(gt.Failures, Failure{Device: v.Device, At: time.UnixMilli(v.FailureAt)})
		}
		if i, ok := open[v.Device]; ok && !v.Failed {
			gt.Failures[i].RepairedAt = t
			delete(open, v.Device)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	return gt, nil
}

// ScoreResult summarises alerts against the ground truth.
type ScoreResult struct {
	Horizon       time.Duration
	Failures      int // failures in the truth
	Detected      int // failures with a raised alert in [At-Horizon, At]
	Raised        int // raised alerts
	TruePositive  int // raised alerts within the horizon before a failure
	Late          int // raised while the machine was down (failed, not yet repaired)
	FalsePositive int // all other raised alerts
	Censored      int // raised within the horizon before a failure after the end of the truth
	Precision     float64
	Recall        float64
	// LeadTimes are At minus the first true-positive alert, per detected
	// failure, ascending.
	LeadTimes                []time.Duration
	MachineDays              float64
	FalseAlarmsPerMachineDay float64
}

// Quantile returns the q-quantile (0..1, nearest rank) of the lead times,
// 0 if none.
func (r ScoreResult) Quantile(q float64) time.Duration {
	if len(r.LeadTimes) == 0 {
		return 0
	}
	i := int(q*float64(len(r.LeadTimes)-1) + 0.5)
	return r.LeadTimes[min(max(i, 0), len(r.LeadTimes)-1)]
}

// Score counts each raised alert (State "raised") as a true positive when
// it falls in [failure-Horizon, failure] of a failure of its device, late
// when the device was down (after a failure, before its repair), else as a
// false alarm. Recall is detected failures / failures; precision is true
// positives / (true positives + false alarms); false alarms per machine-day
// use the devices' spans in the truth. Cleared alerts are ignored.
func Score(gt *GroundTruth, alerts []Event, horizon time.Duration) ScoreResult {
	res := ScoreResult{Horizon: horizon, Failures: len(gt.Failures)}
	byDev := map[string][]int{}
	for i, f := range gt.Failures {
		byDev[f.Device] = append(byDev[f.Device], i)
	}
	first := make([]time.Time, len(gt.Failures))
	for _, a := range alerts {
		if a.State != "raised" {
			continue
		}
		res.Raised++
		i, kind := classify(gt, byDev[a.Device], a.Time, horizon)
		if up, ok := gt.Upcoming[a.Device]; kind == 0 && ok && !a.Time.After(up) && !a.Time.Before(up.Add(-horizon)) {
			res.Censored++
			continue
		}
		switch kind {
		case 1:
			res.TruePositive++
			if first[i].IsZero() || a.Time.Before(first[i]) {
				first[i] = a.Time
			}
		case 2:
			res.Late++
		default:
			res.FalsePositive++
		}
	}
	for i, t := range first {
		if !t.IsZero() {
			res.Detected++
			res.LeadTimes = append(res.LeadTimes, gt.Failures[i].At.Sub(t))
		}
	}
	slices.Sort(res.LeadTimes)
	for _, s := range gt.Span {
		res.MachineDays += s[1].Sub(s[0]).Hours() / 24
	}
	if res.Failures > 0 {
		res.Recall = float64(res.Detected) / float64(res.Failures)
	}
	if n := res.TruePositive + res.FalsePositive; n > 0 {
		res.Precision = float64(res.TruePositive) / float64(n)
	}
	if res.MachineDays > 0 {
		res.FalseAlarmsPerMachineDay = float64(res.FalsePositive) / res.MachineDays
	}
	return res
}

// classify returns (failure index, 1) for a true positive, (-1, 2) for
// late, (-1, 0) for a false alarm. Among several failures in range the
// earliest upcoming one wins.
func classify(gt *GroundTruth, idx []int, t time.Time, horizon time.Duration) (int, int) {
	late := false
	for _, i := range idx {
		f := gt.Failures[i]
		if !t.After(f.At) && !t.Before(f.At.Add(-horizon)) {
			return i, 1
		}
		if t.After(f.At) && (f.RepairedAt.IsZero() || t.Before(f.RepairedAt)) {
			late = true
		}
	}
	if late {
		return -1, 2
	}
	return -1, 0
}

// AlertsFromPredictions turns predictions into raised/cleared events at a
// score threshold (raised when score >= threshold while not raised,
// cleared when it drops below), per device in time order.
func AlertsFromPredictions(preds []Event, threshold float64) []Event {
	sorted := slices.Clone(preds)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Device != sorted[j].Device {
			return sorted[i].Device < sorted[j].Device
		}
		return sorted[i].Time.Before(sorted[j].Time)
	})
	var out []Event
	raised := map[string]bool{}
	for _, p := range sorted {
		switch up := p.Score >= threshold; {
		case up && !raised[p.Device]:
			raised[p.Device] = true
			out = append(out, Event{Device: p.Device, Time: p.Time, Score: p.Score, State: "raised"})
		case !up && raised[p.Device]:
			raised[p.Device] = false
			out = append(out, Event{Device: p.Device, Time: p.Time, Score: p.Score, State: "cleared"})
		}
	}
	return out
}
