package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgepm/edgepm/internal/devstack"
)

type children struct {
	sim, app *exec.Cmd
	simLog   string
	logs     []*os.File
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
	c.app, err = c.start(filepath.Join(o.binDir, "edgepm"), filepath.Join(dataDir, "edgepm.log"),
		"run", "--config", cfgPath)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(o.httpAddr, 30*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("appliance did not come up (see %s/edgepm.log): %w", dataDir, err)
	}
	c.sim, err = c.start(filepath.Join(o.binDir, "firmware-sim"), filepath.Join(dataDir, "firmware-sim.log"),
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

func (c *children) start(bin, logPath string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c.logs = append(c.logs, f)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: the terminal's Ctrl-C reaches only the demo,
	// which then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd, nil
}

// stop ends the simulator, then the appliance.
func (c *children) stop() {
	c.stopSim()
	c.stopApp()
	for _, f := range c.logs {
		_ = f.Close()
	}
}

// stopSim ends the simulator (SIGINT: it prints its summary), at most 5 s.
func (c *children) stopSim() { stopProc(c.sim, syscall.SIGINT, 5*time.Second) }

// stopApp ends the appliance (SIGTERM: ordered drain), at most 30 s.
func (c *children) stopApp() { stopProc(c.app, syscall.SIGTERM, 30*time.Second) }

// stopProc signals cmd and waits up to wait for it to exit, then kills it.
// It does nothing for a process already stopped.
func stopProc(cmd *exec.Cmd, sig syscall.Signal, wait time.Duration) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}
