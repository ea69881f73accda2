package devstack

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

func TestStartTwice(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ { // the second start finds the topics in the data dir
		s, err := Start(context.Background(), Options{MQTTAddr: "127.0.0.1:0", KafkaPort: testenv.FreePort(t), DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s.Close()
	}
}

// TestStartMosquitto: the stack runs Mosquitto with the shipped drop-in
// (what `make run` does where Mosquitto is installed) and stops it.
func TestStartMosquitto(t *testing.T) {
	bin := MosquittoBin()
	if bin == "" {
		testenv.Missing(t, "mosquitto is not installed")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s, err := Start(context.Background(), Options{MQTTAddr: addr, KafkaPort: testenv.FreePort(t), DataDir: t.TempDir(),
		Mosquitto: bin, MosquittoDropIn: filepath.Join(testenv.RepoRoot(), "deploy", "mosquitto", "edgepm.conf")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	s.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Error("mosquitto still listening after Close")
	}
}
