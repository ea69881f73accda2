package main

import (
	"strings"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// --first-machine and the --add-* flags reach the plant: the command writes
// what the library produces for the same Config, the added machines from
// --add-at on, numbered after the initial ones.
func TestAddMachinesFlags(t *testing.T) {
	out, _, err := runCmd(t, "--stdout", "--stdout-topics", "--rate", "0", "--quiet", "--interval", "10m",
		"--machines", "3", "--first-machine", "100", "--add-at", "1h", "--add-machines", "2", "--add-classes", "conveyor",
		"--count", "65") // 5 ticks of 3 readings before 1h, 10 of 5 from then on
	if err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPlant(sim.Config{Seed: 1, Machines: 3, FirstMachine: 100, AddAt: time.Hour, AddMachines: 2,
		AddClasses: []string{sim.ClassConveyor}})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for range 15 {
		for _, r := range p.Step(10 * time.Minute) {
			want.WriteString(sim.Topic("", "site1", "line1", r.Device, r.Class) + " " + string(sim.EncodePayload(r)) + "\n")
		}
	}
	if out != want.String() {
		t.Fatalf("command output differs from library:\n%.300s\n%.300s", out, want.String())
	}
	lines := strings.Split(out, "\n")
	if strings.Contains(strings.Join(lines[:15], "\n"), "conveyor") ||
		!strings.HasPrefix(lines[15], "plant/site1/line1/pump-0100/") || !strings.HasPrefix(lines[18], "plant/site1/line1/conveyor-0103/") ||
		!strings.HasPrefix(lines[19], "plant/site1/line1/conveyor-0104/") {
		t.Fatalf("devices out of order:\n%s", strings.Join(lines[:20], "\n"))
	}
}

// The default rate is for the machines in service at the start; the
// publisher scales it when the added ones arrive (TestPaceScalesWithMachinesInService).
func TestDefaultRateFollowsMachinesInService(t *testing.T) {
	var f publishFlags
	fs := newFlagSet("firmware-sim", &strings.Builder{})
	f.register(fs)
	if err := fs.Parse([]string{"--stdout", "--machines", "3", "--add-machines", "2", "--add-at", "1h",
		"--accel", "60", "--interval", "1m"}); err != nil {
		t.Fatal(err)
	}
	_, devices, err := f.source()
	if err != nil {
		t.Fatal(err)
	}
	if rate := f.messageRate(devices); devices != 3 || rate != 3 {
		t.Fatalf("devices %d, rate %g msg/s; want 3 and 3 (the publisher scales it at --add-at)", devices, rate)
	}
}
