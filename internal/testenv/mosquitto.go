package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoServer is a private mosquitto process on a loopback port. Stop and
// Start let a test take the broker away and bring it back on the same port.
type MosquittoServer struct {
	t    testing.TB
	bin  string
	conf string
	Port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *bytes.Buffer
}

// MosquittoBin returns the mosquitto binary's path, or "" if not installed.
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

// MosquittoOption changes the generated broker config.
type MosquittoOption func(*mosquittoConf)

type mosquittoConf struct{ listener, global string }

// ListenerConf replaces the listener options (default "allow_anonymous
// true"): TLS files, password_file, allow_anonymous ..., written right after
// the loopback listener line. Files it names must be readable by the
// mosquitto user (the broker drops root privileges).
func ListenerConf(conf string) MosquittoOption {
	return func(c *mosquittoConf) { c.listener = conf }
}

// GlobalConf appends conf to the generated config's general options, after
// its own (Mosquitto takes the last value of an option): for example the
// stock limits "max_queued_messages 1000\nmax_inflight_messages 20", or
// "include_dir" of a drop-in folder.
func GlobalConf(conf string) MosquittoOption {
	return func(c *mosquittoConf) { c.global += conf + "\n" }
}

// ConfFile writes a broker-side file (ACL, password file, drop-in) into a
// world-readable temp dir, so a broker that drops root privileges can read
// it, and returns its path.
func ConfFile(t testing.TB, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	// The test's temp dirs are 0700; the broker runs as another user.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// StartMosquitto starts a private mosquitto with a generated config:
// anonymous access on 127.0.0.1 only, no persistence, no limit on in-flight
// or queued QoS 1 messages (what edgepm's QoS 1 path needs), unless opts say
// otherwise. It is stopped in t.Cleanup; URL and Addr say where it listens.
func StartMosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	mc := mosquittoConf{listener: "allow_anonymous true\n"}
	for _, o := range opts {
		o(&mc)
	}
	listenerConf := mc.listener
	bin := MosquittoBin()
	if bin == "" {
		Missing(t, "mosquitto is not installed (apt-get install mosquitto mosquitto-clients, or `make deps`)")
	}
	dir := t.TempDir()
	s := &MosquittoServer{t: t, bin: bin, Port: FreePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
	conf := fmt.Sprintf(`per_listener_settings true
listener %d 127.0.0.1
%s
persistence false
max_inflight_messages 0
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
%s`, s.Port, listenerConf, mc.global)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("write mosquitto config: %v", err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the broker's address for paho ("tcp://127.0.0.1:PORT").
func (s *MosquittoServer) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.Port) }

// Addr is host:port.
func (s *MosquittoServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start (re)starts the broker on its port and waits until it accepts
// connections.
func (s *MosquittoServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start mosquitto: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	if err := waitListeningOrExit(s.Addr(), 10*time.Second, s.exited); err != nil {
		_ = cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
		s.t.Fatalf("mosquitto: %v; output:\n%s", err, s.out.String())
	}
}

// Stop kills the broker (SIGKILL, like a crash) and waits for it to exit.
// It is idempotent.
func (s *MosquittoServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}
