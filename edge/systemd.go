package edge

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier speaks systemd's sd_notify protocol: datagrams such as
// "READY=1" to the unix socket named by $NOTIFY_SOCKET. Without
// NOTIFY_SOCKET (not started by systemd with Type=notify) every call is a
// no-op. Safe for concurrent use; Notify never blocks for long (datagram
// sockets to systemd do not back up in practice, and a 1 s write deadline
// bounds it anyway).
type Notifier struct {
	addr *net.UnixAddr
}

// NewNotifier reads NOTIFY_SOCKET from the environment.
func NewNotifier() *Notifier {
	return NewNotifierAt(os.Getenv("NOTIFY_SOCKET"))
}

// NewNotifierAt returns a notifier for the given socket path ("@name" is
// an abstract socket). An empty path returns a no-op notifier.
func NewNotifierAt(path string) *Notifier {
	if path == "" {
		return &Notifier{}
	}
	name := path
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Enabled reports whether a notify socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends one state string, e.g. "READY=1\nSTATUS=serving".
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
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

// WatchdogInterval returns how often systemd expects WATCHDOG=1 (half of
// WATCHDOG_USEC, as sd_watchdog_enabled advises), or 0 when the watchdog is
// off or meant for another process (WATCHDOG_PID).
func WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}
