package sim

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// maxPending bounds the bytes a coalescingConn buffers before Write blocks.
const maxPending = 4 << 20

// coalescable reports whether openCoalescing can dial broker (plain TCP);
// other schemes (ssl, ws) use paho's own dialer.
func coalescable(broker string) bool {
	u, err := url.Parse(broker)
	return err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt")
}

// openCoalescing dials a plain TCP broker URL as paho does and wraps the
// connection in a coalescingConn.
func openCoalescing(uri *url.URL, opts mqtt.ClientOptions) (net.Conn, error) {
	d := net.Dialer{Timeout: opts.ConnectTimeout}
	if opts.Dialer != nil {
		d = *opts.Dialer
	}
	c, err := d.Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c), nil
}

// coalescingConn makes Write asynchronous: bytes are appended to a pending
// buffer and a flusher goroutine writes everything pending in one syscall.
// Under load many MQTT packets share one write; when idle each packet is
// written at once (no timer, no added latency). Write blocks only when
// maxPending bytes are waiting; a write error is returned by the next Write.
type coalescingConn struct {
	net.Conn
	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte
	err     error
	closed  bool
	done    chan struct{}
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, done: make(chan struct{})}
	cc.cond = sync.NewCond(&cc.mu)
	go cc.flusher()
	return cc
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) >= maxPending && c.err == nil && !c.closed {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

func (c *coalescingConn) flusher() {
	defer close(c.done)
	var spare []byte
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.pending) == 0 && c.closed {
			c.mu.Unlock()
			return
		}
		buf := c.pending
		c.pending = spare[:0]
		c.cond.Broadcast()
		c.mu.Unlock()

		_, err := c.Conn.Write(buf)
		spare = buf
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.pending = nil
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
	}
}

// Close flushes what is pending (bounded by a 2s write deadline) and
// closes the connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	<-c.done
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
