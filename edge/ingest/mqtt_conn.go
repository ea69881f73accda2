package ingest

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// bufferedOpener returns a paho connection opener for tcp and tls brokers
// whose reads go through a 64 KiB buffer (paho reads each packet's header
// a byte at a time, which costs several syscalls per message at ingest
// rates) and whose writes are coalesced (paho writes each PUBACK with its
// own syscall; see bufConn). It returns nil for other schemes (ws, wss, unix), which keep
// paho's own opener. Proxies from the environment are not used for tcp and
// tls here (paho's opener honours all_proxy; MQTT on a plant LAN rarely
// goes through one).
func bufferedOpener(broker string) mqtt.OpenConnectionFunc {
	u, err := url.Parse(broker)
	if err != nil {
		return nil
	}
	var secure bool
	switch u.Scheme {
	case "tcp", "mqtt":
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		secure = true
	default:
		return nil
	}
	return func(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		var c net.Conn
		var err error
		if secure {
			c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
		} else {
			c, err = d.Dial("tcp", uri.Host)
		}
		if err != nil {
			return nil, err
		}
		return newBufConn(c), nil
	}
}

// maxPendingWrite bounds the bytes Write queues for the writer goroutine;
// beyond it Write waits, as a plain socket write would.
const maxPendingWrite = 256 << 10

// closeFlushWait bounds how long Close waits for queued bytes to be written.
const closeFlushWait = time.Second

// bufConn is a net.Conn whose reads are buffered and whose writes are
// queued for a writer goroutine that sends whatever has queued up with one
// syscall: a burst of PUBACKs (a committed batch is acknowledged at once)
// costs a few syscalls instead of one each. Nothing waits for a timer: an
// idle connection's write goes out at once. A write error is returned by
// the next Write and closes the connection, so paho's reader notices and
// reconnects. Close writes what is queued (at most closeFlushWait) before
// closing. Safe for concurrent use.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	drained *sync.Cond // signalled when buf was taken or on error/close
	buf     []byte     // queued bytes
	err     error      // the writer's error; sticky
	closed  bool
	kick    chan struct{} // buf has bytes (capacity 1)
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the writer returns
	once    sync.Once
}

func newBufConn(c net.Conn) *bufConn {
	b := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	b.drained = sync.NewCond(&b.mu)
	go b.writer()
	return b
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the writer goroutine.
func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closed && len(c.buf) >= maxPendingWrite {
		c.drained.Wait()
	}
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *bufConn) writer() {
	defer close(c.done)
	var out []byte
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			c.flush(out) // what was queued before Close
			return
		}
		var ok bool
		if out, ok = c.flush(out); !ok {
			return
		}
	}
}

// flush writes what is queued; out is a spare buffer to swap in. It
// returns the spare for the next round, and false after a write error.
func (c *bufConn) flush(out []byte) ([]byte, bool) {
	c.mu.Lock()
	out, c.buf = c.buf, out[:0]
	c.drained.Broadcast()
	c.mu.Unlock()
	if len(out) == 0 {
		return out, true
	}
	if _, err := c.Conn.Write(out); err != nil {
		c.mu.Lock()
		c.err = err
		c.drained.Broadcast()
		c.mu.Unlock()
		_ = c.Conn.Close() // paho's reader sees the connection fail
		return nil, false
	}
	if cap(out) > 4*maxPendingWrite {
		return nil, true // do not keep a buffer a burst grew
	}
	return out[:0], true
}

// Close writes what is queued (for at most closeFlushWait) and closes the
// connection.
func (c *bufConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true // later Writes fail; what is queued still goes out
		c.drained.Broadcast()
		c.mu.Unlock()
		close(c.stop)
		select {
		case <-c.done:
		case <-time.After(closeFlushWait):
		}
		err = c.Conn.Close()
	})
	return err
}
