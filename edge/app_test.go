package edge

import (
	"net"
	"strings"
	"testing"
)

// A failure half-way through New (here: the HTTP port is taken) closes what
// was opened and returns the error; it must not panic.
func TestNewFailsCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := Parse([]byte("gateway_id: t\ndata_dir: " + t.TempDir() + "\nhttp: {listen: " + ln.Addr().String() + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Inference.ONNXRuntimeLib = testONNXRuntimeLib(t)
	app, err := New(cfg, nil)
	if err == nil || app != nil || !strings.Contains(err.Error(), "listen http") {
		t.Fatalf("New = %v, %v; want a listen error", app, err)
	}
	// The buffer was closed: a second New on the same data dir can open it.
	cfg.HTTP.Listen = "127.0.0.1:0"
	app, err = New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.closeParts(); err != nil {
		t.Fatal(err)
	}
}
