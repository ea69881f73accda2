package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening polls addr until a TCP connect succeeds or d passes.
func waitListening(addr string, d time.Duration) error {
	return waitListeningOrExit(addr, d, nil)
}

// waitListeningOrExit is waitListening that gives up at once when exited
// is closed (the server process died).
func waitListeningOrExit(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, d, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited before listening on %s", addr)
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
}
