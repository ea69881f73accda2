package edge

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's sd_notify protocol: datagrams such as
// "READY=1" to the unix socket named by $NOTIFY_SOCKET. Without
// NOTIFY_SOCKET (not started by systemd with Type=notify) every call is a
// no-op. Safe for concurrent use; send never blocks for long (datagram
// sockets to systemd do not back up in practice, and a 1 s write deadline
// bounds it anyway).
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier reads NOTIFY_SOCKET from the environment.
func newNotifier() *notifier {
	return newNotifierAt(os.Getenv("NOTIFY_SOCKET"))
}

// newNotifierAt returns a notifier for the given socket path ("@name" is
// an abstract socket). An empty path returns a no-op notifier.
func newNotifierAt(path string) *notifier {
	if path == "" {
		return &notifier{}
	}
	name := path
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// enabled reports whether a notify socket is configured.
func (n *notifier) enabled() bool { return n != nil && n.addr != nil }

// send sends one state string, e.g. "READY=1\nSTATUS=serving".
func (n *notifier) send(state string) error {
	if !n.enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: dial %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: write: %w", err)
	}
	return nil
}

// watchdogInterval returns how often systemd expects WATCHDOG=1 (half of
// WATCHDOG_USEC, as sd_watchdog_enabled advises), or 0 when the watchdog is
// off or meant for another process (WATCHDOG_PID).
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}
