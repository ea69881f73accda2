package edge

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifierRealSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := newNotifierAt(path)
	if !n.enabled() {
		t.Fatal("notifier not enabled")
	}
	for _, msg := range []string{"READY=1\nSTATUS=serving", "WATCHDOG=1", "STOPPING=1"} {
		if err := n.send(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != msg {
			t.Fatalf("got %q, want %q", got, msg)
		}
	}
}

func TestNotifierDisabled(t *testing.T) {
	n := newNotifierAt("")
	if n.enabled() {
		t.Fatal("enabled without socket")
	}
	if err := n.send("READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", "")
	if got := watchdogInterval(); got != 5*time.Second {
		t.Fatalf("got %s", got)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if got := watchdogInterval(); got != 0 {
		t.Fatalf("other pid: got %s", got)
	}
}
