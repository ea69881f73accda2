package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgepm/edgepm/edge"
)

type view struct {
	o  options
	kc *kafkaWatch
	cl *http.Client
}

func newView(o options, kc *kafkaWatch) *view {
	return &view{o: o, kc: kc, cl: &http.Client{Timeout: 2 * time.Second}}
}

func (v *view) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := v.status()
		if v.o.plain {
			v.printPlain(st, err, time.Since(start))
		} else {
			v.draw(st, err, time.Since(start))
		}
	}
}

func (v *view) status() (*edge.Status, error) {
	resp, err := v.cl.Get("http://" + v.o.httpAddr + "/api/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st edge.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (v *view) printPlain(st *edge.Status, err error, up time.Duration) {
	if err != nil {
		fmt.Printf("%4.0fs appliance status unavailable: %v\n", up.Seconds(), err)
		return
	}
	fmt.Printf("%4.0fs ready=%v mqtt=%v uplink=%v model=%s:%s raise=%.3f clear=%.3f buffer=%d readings/s=%.0f predictions/s=%.0f alerts=%d | kafka: readings=%d predictions=%d alerts=%d\n",
		up.Seconds(), st.Ready, st.MQTT.Connected, st.Uplink.Online, st.Model.Name, st.Model.Version, st.Model.Raise, st.Model.Clear, st.Buffer.Records,
		st.Rates.ReadingsPerSec, st.Rates.PredictionsPerSec, st.ActiveAlerts,
		v.kc.count("readings"), v.kc.count("predictions"), v.kc.count("alerts"))
}

func onOff(b bool, on, off string) string {
	if b {
		return "\033[32m" + on + "\033[0m"
	}
	return "\033[31m" + off + "\033[0m"
}

func (v *view) draw(st *edge.Status, err error, up time.Duration) {
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	fmt.Fprintf(&b, "edgepm demo — %s   (Ctrl-C stops; status page http://%s/ ; or: %s status --addr %s)\n\n",
		up.Round(time.Second), v.o.httpAddr, filepath.Join(v.o.binDir, "edgepm"), v.o.httpAddr)
	if err != nil {
		fmt.Fprintf(&b, "appliance status unavailable: %v\n", err)
		fmt.Print(b.String())
		return
	}
	fmt.Fprintf(&b, "gateway %-12s %s   MQTT %s   uplink %s   model %s %s\n", st.Gateway,
		onOff(st.Ready, "READY", "NOT READY"), onOff(st.MQTT.Connected, "connected", "down"),
		onOff(st.Uplink.Online, "online", "offline"), st.Model.Name, st.Model.Version)
	fmt.Fprintf(&b, "rates   %6.0f readings/s  %6.0f predictions/s   buffer %d records (%d KiB)   active alerts %d\n",
		st.Rates.ReadingsPerSec, st.Rates.PredictionsPerSec, st.Buffer.Records, st.Buffer.Bytes>>10, st.ActiveAlerts)
	fmt.Fprintf(&b, "kafka   %d readings, %d predictions, %d alerts, %d events, %d dead letters delivered\n",
		v.kc.count("readings"), v.kc.count("predictions"), v.kc.count("alerts"), v.kc.count("events"), v.kc.count("deadletter"))
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, "\033[33m! %s\033[0m\n", c)
	}
	b.WriteString(thresholdLines(st.Model))
	fmt.Fprintf(&b, "\n%-16s %-8s %-22s %s\n", "machine", "score", "failure risk",
		fmt.Sprintf("last reading (simulated clock, %gx real time)", v.o.accel))
	for _, d := range st.Devices {
		score, bar := "   –", ""
		if d.Score != nil {
			score = fmt.Sprintf("%.3f", *d.Score)
			n := int(*d.Score*20 + 0.5)
			bar = strings.Repeat("█", n) + strings.Repeat("·", 20-n)
		}
		alert := ""
		if d.Alert {
			alert = "  \033[31mALERT\033[0m"
			if d.AlertSince != nil {
				alert += " since " + d.AlertSince.Format("15:04:05") + " (simulated)"
			}
		}
		fmt.Fprintf(&b, "%-16s %-8s %-22s %s%s\n", d.Device, score, bar, d.LastSeen.Format("2006-01-02 15:04"), alert)
	}
	fmt.Print(b.String())
}

// thresholdLines shows the alert thresholds and explains their
// hysteresis, which is why a machine in ALERT may score lower than one
// that is not.
func thresholdLines(m edge.ModelStatus) string {
	if !m.Loaded {
		return ""
	}
	enter, leave, worse := "above", "below", "lower"
	if m.AlertWhen == "below" {
		enter, leave, worse = "below", "above", "higher"
	}
	return fmt.Sprintf("\nalerts  raise when the score goes %s %.3f, clear only when it comes back %s %.3f (hysteresis):\n"+
		"        in between a machine keeps its state, so one in ALERT may show a %s score than one that is not\n",
		enter, m.Raise, leave, m.Clear, worse)
}

func waitHTTP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
