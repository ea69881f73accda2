package edge

import (
	"fmt"
	"time"
)

// IngestStatus is what ingest knows about readings lost before the
// gateway: gaps in devices' payload seq counters (every device's since the
// gateway started, evicted devices included) and the broker's own count of
// dropped messages.
type IngestStatus struct {
	SeqGaps       uint64 `json:"seq_gaps"`
	SeqMissing    uint64 `json:"seq_missing"`
	SeqResets     uint64 `json:"seq_resets"`
	SeqDuplicates uint64 `json:"seq_duplicates"` // redelivered readings (not a loss)
	// BrokerDropped is the broker's $SYS/broker/publish/messages/dropped
	// (all its clients, since it started); absent when the broker does
	// not publish it.
	BrokerDropped *uint64 `json:"broker_dropped,omitempty"`
}

func (a *App) ingestStatus() IngestStatus {
	l := a.devices.lossTotals()
	st := IngestStatus{SeqGaps: l.gaps, SeqMissing: l.missing, SeqResets: l.resets, SeqDuplicates: a.devices.duplicates.Load()}
	if v, _, ok := a.mqtt.BrokerDropped(); ok {
		st.BrokerDropped = &v
	}
	return st
}

// recentLoss is how long a seq gap stays a warning in /api/status.
const recentLoss = 10 * time.Minute

// ingestWarnings lists recent upstream loss: seq gaps and the broker's
// dropped count growing.
func (a *App) ingestWarnings(now time.Time) []string {
	var w []string
	if at := a.devices.lastLoss.Load(); at != 0 && now.Sub(time.Unix(0, at)) < recentLoss {
		l := a.devices.lossTotals()
		w = append(w, fmt.Sprintf("ingest: readings lost before the gateway: devices' seq counters skipped %d readings in %d gaps "+
			"and restarted %d times since start, last %s ago (see ingest.upstream_loss events)",
			l.missing, l.gaps, l.resets, now.Sub(time.Unix(0, at)).Round(time.Second)))
	}
	if msg := a.brokerDrops.warning(now); msg != "" {
		w = append(w, msg)
	}
	return w
}
