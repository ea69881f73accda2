package devstack

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"time"
)

// mosquitto is a Mosquitto process the stack started.
type mosquitto struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// startMosquitto runs bin on addr (host:port) with the drop-in appended to
// a loopback listener config: the broker a gateway runs, configured as
// deploy/mosquitto/edgepm.conf says. Its persistence file and config go to
// dir.
func startMosquitto(bin, addr, dropIn, dir string) (*mosquitto, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt address %s: %w", addr, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("listener %s %s\nallow_anonymous true\npersistence_location %s/\nlog_dest stderr\nlog_type error\nlog_type warning\n",
		port, host, dir)
	if u, err := user.Current(); err == nil {
		conf += "user " + u.Username + "\n" // as root, do not drop to a user that cannot write dir
	}
	conf += "\n# " + dropIn + ", as a gateway's conf.d has it\n"
	b, err := os.ReadFile(dropIn)
	if err != nil {
		return nil, fmt.Errorf("mosquitto drop-in: %w", err)
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, append([]byte(conf), b...), 0o644); err != nil {
		return nil, err
	}
	m := &mosquitto{out: &bytes.Buffer{}, exited: make(chan struct{})}
	m.cmd = exec.Command(bin, "-c", path)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	if err := m.waitListening(addr, 10*time.Second); err != nil {
		m.stop()
		return nil, fmt.Errorf("mosquitto on %s: %w; output:\n%s", addr, err, m.out.String())
	}
	return m, nil
}

func (m *mosquitto) waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-m.exited:
			return fmt.Errorf("exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// stop ends the broker (SIGTERM: it saves its persistence file) and waits
// up to 5 s before killing it.
func (m *mosquitto) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// MosquittoBin returns the mosquitto binary's path, or "" if it is not
// installed.
func MosquittoBin() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
