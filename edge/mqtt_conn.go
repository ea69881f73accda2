package edge

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// bufferedOpener returns a paho connection opener for tcp and tls brokers
// whose reads go through a 64 KiB buffer: paho reads each packet's header
// a byte at a time, which costs several syscalls per message at ingest
// rates. It returns nil for other schemes (ws, wss, unix), which keep
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
		return &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
	}
}

// bufConn is a net.Conn whose reads are buffered.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
