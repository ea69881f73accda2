package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgepm/edgepm/internal/devstack"
)

type children struct {
	sim, app *devstack.Child
	simLog   string
}

const demoConfig = `# written by the demo (cmd/demo); see docs/configuration.md
gateway_id: demo-gw-1
data_dir: %s
log_level: info
shutdown_timeout: 15s
http:
  listen: %s
mqtt:
  broker: %s
  client_id: edgepm-demo-gw-1
kafka:
  brokers: [%s]
  create_topics: true
inference:
  allow_unsigned: true   # the demo also accepts unsigned models pushed to it
validation:
  # The simulator runs its clock faster than the wall clock (--accel), so
  # its timestamps run ahead: the clock-skew checks are off for the demo.
  max_clock_skew: -1s
  max_future_skew: -1s
`

func startChildren(o options, dataDir string, stack *devstack.Stack) (*children, error) {
	cfgPath := filepath.Join(dataDir, "edgepm.yaml")
	cfg := fmt.Sprintf(demoConfig, dataDir, o.httpAddr, stack.MQTTURL, stack.KafkaSeeds[0])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	c := &children{}
	var err error
	c.app, err = devstack.StartChild(filepath.Join(o.binDir, "edgepm"), filepath.Join(dataDir, "edgepm.log"),
		"run", "--config", cfgPath)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(o.httpAddr, 30*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("appliance did not come up (see %s/edgepm.log): %w", dataDir, err)
	}
	c.sim, err = devstack.StartChild(filepath.Join(o.binDir, "firmware-sim"), filepath.Join(dataDir, "firmware-sim.log"),
		"--broker", stack.MQTTURL, "--machines", fmt.Sprint(o.machines), "--accel", fmt.Sprint(o.accel),
		"--interval", o.interval.String(), "--qos", "1", "--seed", "7",
		// Machines wear out in hours rather than weeks, so a person
		// watching sees degradation, alerts, failure and repair.
		"--mean-onset", "6h", "--mean-degradation", "2h", "--repair-time", "30m",
		"--truth-file", filepath.Join(dataDir, "truth.jsonl"))
	c.simLog = filepath.Join(dataDir, "firmware-sim.log")
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// stop ends the simulator, then the appliance.
func (c *children) stop() {
	c.stopSim()
	c.stopApp()
}

// stopSim ends the simulator (SIGINT: it prints its summary), at most 5 s.
func (c *children) stopSim() { c.sim.Stop(syscall.SIGINT, 5*time.Second) }

// stopApp ends the appliance (SIGTERM: ordered drain), at most 30 s.
func (c *children) stopApp() { c.app.Stop(syscall.SIGTERM, 30*time.Second) }
