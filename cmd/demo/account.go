package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgepm/edgepm/edge"
)

// account is the demo's closing line: readings the simulator sent against
// readings delivered to Kafka, and where the difference is.
type account struct {
	sent        int64   // readings the simulator published (its summary line)
	committed   int64   // readings the appliance committed to its buffer
	delivered   int64   // distinct readings records in Kafka
	buffered    int64   // readings records still in the appliance's buffer
	missing     uint64  // readings missing in the devices' seq counters
	deadLetters int64   // dead letters in Kafka (invalid payloads)
	brokerDrops *uint64 // the broker's $SYS dropped count, when published
}

func (a account) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "readings: %d sent by the simulator, %d taken by the appliance, %d delivered to Kafka", a.sent, a.committed, a.delivered)
	if a.buffered > 0 {
		fmt.Fprintf(&b, ", %d still in the appliance's buffer", a.buffered)
	}
	fmt.Fprintf(&b, ", %d dropped before the appliance (seq gaps", a.missing)
	if a.brokerDrops != nil {
		fmt.Fprintf(&b, "; the broker's own dropped count: %d", *a.brokerDrops)
	}
	b.WriteString(")")
	if a.deadLetters > 0 {
		fmt.Fprintf(&b, ", %d dead-lettered", a.deadLetters)
	}
	if gone := a.committed - a.delivered - a.buffered; gone > 0 {
		fmt.Fprintf(&b, ", %d taken but not seen in Kafka", gone)
	}
	switch rest := a.sent - a.delivered - a.buffered - int64(a.missing) - a.deadLetters; {
	case rest > 0:
		fmt.Fprintf(&b, ", %d unaccounted (sent last, after the devices' final readings no later counter shows a gap: "+
			"still at the broker, or dropped there, when the appliance stopped)", rest)
	case rest < 0:
		fmt.Fprintf(&b, ", %d more than sent (readings published before a counter reset, or a simulator summary cut short)", -rest)
	default:
		b.WriteString(": all accounted for")
	}
	return b.String()
}

var simSentRE = regexp.MustCompile(`firmware-sim: sent (\d+) messages \(\d+ readings\)`)

// simSent reads how many readings the simulator sent from its log's
// summary line (written when it exits): its messages, one reading each in
// the demo (its readings count includes one made but not sent when it is
// interrupted).
func simSent(logPath string) (int64, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	m := simSentRE.FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no summary line in %s", logPath)
	}
	return strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
}

// drained polls the appliance until it has taken everything the broker
// held for it: every message it received is committed, the readings
// stream of its buffer is empty, and its count of committed readings has
// not moved for 2 s (or d passes). It returns the last status.
func (v *view) drained(d time.Duration) (*edge.Status, error) {
	deadline := time.Now().Add(d)
	last, since := -1.0, time.Now()
	for {
		st, err := v.status()
		n := v.committed()
		if n != last {
			last, since = n, time.Now()
		}
		quiet := time.Since(since) >= 2*time.Second
		if err == nil && quiet && st.MQTT.Unacked == 0 && readingsBuffered(st) == 0 || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// committed is the appliance's edgepm_ingest_readings_total (-1 when
// unknown).
func (v *view) committed() float64 {
	resp, err := v.cl.Get("http://" + v.o.httpAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "edgepm_ingest_readings_total" {
			n, _ := strconv.ParseFloat(f[1], 64)
			return n
		}
	}
	return -1
}

// readingsBuffered is the depth of the buffer's readings stream in a
// status.
func readingsBuffered(st *edge.Status) int64 {
	for _, s := range st.Buffer.Streams {
		if s.Stream == "readings" {
			return s.Records
		}
	}
	return 0
}
