//go:build benche2e

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
)

// TestDeviceRSS prints edgepm's RSS after QoS 1 readings from 100 devices
// and then from 10,000 (30 readings each: one default-model window), the
// measurement of issue 15. It asserts nothing:
//
//	go test -tags benche2e -run TestDeviceRSS -v ./cmd/edgepm/
func TestDeviceRSS(t *testing.T) {
	sim := buildSim(t)
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "")
	p := startProc(t, cfgPath, httpAddr)
	for _, machines := range []int{100, 10_000} {
		if err := runSim(sim, broker.URL(), 1, machines, time.Second, 0, 300_000); err != nil {
			t.Fatal(err)
		}
		committed := settled(p, "edgepm_ingest_readings_total")
		t.Logf("after %d devices: RSS %.0f MB, %.0f readings committed in all, %.0f devices tracked", machines,
			vmRSS(p.cmd.Process.Pid), committed, metricValue(p, "edgepm_devices"))
	}
	_ = p.term(30 * time.Second)
}

// settled waits until metric has not changed for 5 s and returns it.
func settled(p *proc, metric string) float64 {
	last, still := -1.0, 0
	for still < 10 {
		v := metricValue(p, metric)
		if v == last {
			still++
		} else {
			still = 0
		}
		last = v
		time.Sleep(500 * time.Millisecond)
	}
	return last
}

// vmRSS returns a process's resident set in MB.
func vmRSS(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
