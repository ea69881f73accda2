package buffer

import (
	"sort"
	"time"
)

// Health condition names.
const (
	// CondRecovered: the buffer file was unusable at Open and was moved
	// aside (Message says where). Stays raised until the process restarts.
	CondRecovered = "buffer_recovered"
	// CondWriteFailed: the last commit failed (disk full, I/O error), or
	// the directory fsync after a compaction's rename failed (commits fail
	// until it succeeds). Cleared by the next successful commit.
	CondWriteFailed = "buffer_write_failed"
	// CondFull: an append found no room (ErrFull backpressure). Cleared when
	// an append succeeds or space is freed without a new rejection.
	CondFull = "buffer_full"
	// CondCorruptRecords: Read skipped records that failed their checksum.
	CondCorruptRecords = "buffer_corrupt_records"
)

// Severities.
const (
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Condition is one raised health condition.
type Condition struct {
	Name     string    `json:"name"`
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since"`
}

// Health returns the raised conditions, sorted by name; empty when healthy.
func (q *Queue) Health() []Condition {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.conditionsLocked()
}

func (q *Queue) conditionsLocked() []Condition {
	out := make([]Condition, 0, len(q.health))
	for _, c := range q.health {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (q *Queue) setCondition(name, severity, msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.setConditionLocked(name, severity, msg)
}

func (q *Queue) setConditionLocked(name, severity, msg string) {
	c, ok := q.health[name]
	if !ok {
		c.Since = q.opts.Now()
	}
	c.Name, c.Severity, c.Message = name, severity, msg
	q.health[name] = c
}
