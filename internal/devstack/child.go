package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a process the demos run (an edgepm gateway, firmware-sim, a
// central command), its output going to a log file. It runs in its own
// process group, so a terminal's Ctrl-C reaches only the demo, which then
// stops its children in order; it is killed with SIGTERM if the demo dies.
// A Child is not safe for concurrent use.
type Child struct {
	Cmd *exec.Cmd
	Log string // the log file's path
	f   *os.File
	// done is closed when the process has been waited for.
	done chan struct{}
}

// StartChild starts bin with args, stdout and stderr to logPath.
func StartChild(bin, logPath string, args ...string) (*Child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &Child{Cmd: cmd, Log: logPath, f: f, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// Exited reports whether the process has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop signals the process with sig and waits up to wait for it to exit,
// then kills it; then closes the log. It does nothing more for a process
// already stopped. A nil Child is a no-op.
func (c *Child) Stop(sig syscall.Signal, wait time.Duration) {
	if c == nil {
		return
	}
	if !c.Exited() {
		_ = c.Cmd.Process.Signal(sig)
		select {
		case <-c.done:
		case <-time.After(wait):
			_ = c.Cmd.Process.Kill()
			<-c.done
		}
	}
	_ = c.f.Close()
}
