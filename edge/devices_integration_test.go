package edge_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestLocalAlertTopicsBeyondMaxDevices: with more devices than
// inference.max_devices, every device's local alert is published on a topic
// with its own {site} and {line}, the appliance keeps at most the bound of
// devices, and counts the evictions.
func TestLocalAlertTopicsBeyondMaxDevices(t *testing.T) {
	const bound, n = 3, 7
	s := startStackMQTT(t, `  subscriptions:
    - {topic: "plant/{site}/{line}/{device}/telemetry"}
  alert_topic: "alerts/{gateway}/{site}/{line}/{device}"`, "  max_devices: "+strconv.Itoa(bound)+"\n  thresholds: {raise: 0, clear: 0}\n")
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.mqtt.URL()).SetClientID("it-hmi"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	topics := make(chan string, 1024)
	if tok := sub.Subscribe("alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) { topics <- m.Topic() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t0 := time.Now().Add(-time.Hour)
	want := map[string]bool{}
	for i := range n {
		site, line, dev := "site"+strconv.Itoa(i), "line"+strconv.Itoa(i%2), fmt.Sprintf("pump-%d", i)
		s.mosquittoPub("plant/"+site+"/"+line+"/"+dev+"/telemetry", 1, readingLines(0, 30, t0)) // one full window
		want["alerts/it-gw/"+site+"/"+line+"/"+dev] = true
	}
	got := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case tp := <-topics:
			if !want[tp] {
				t.Fatalf("alert on %s, want one of %v", tp, want)
			}
			got[tp] = true
		case <-timeout:
			t.Fatalf("alerts on %v after 30s, want %v", got, want)
		}
	}
	st := s.app.Status()
	if len(st.Devices) != bound {
		t.Fatalf("status shows %d devices, want the bound %d", len(st.Devices), bound)
	}
	if v := metricValue(t, s, `edgepm_devices_evicted_total{reason="max_devices"}`); v != strconv.Itoa(n-bound) {
		t.Fatalf("evictions counted %q, want %d", v, n-bound)
	}
}

// metricValue returns the value text of a metric line (name with labels)
// from the app's /metrics.
func metricValue(t *testing.T, s *stack, series string) string {
	t.Helper()
	for _, l := range strings.Split(string(s.httpGet("/metrics")), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}
