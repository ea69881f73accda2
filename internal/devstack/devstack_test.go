package devstack

import (
	"context"
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
