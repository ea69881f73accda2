package edge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/internal/testenv"
)

// TestMQTTMutualTLSAndPassword: ingest over TLS with a client certificate
// and a username/password, against a Mosquitto that requires all three.
func TestMQTTMutualTLSAndPassword(t *testing.T) {
	certs := testenv.NewTLSFiles(t)
	pwfile := filepath.Join(certs.Dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pwfile, "gw", "gw-secret").CombinedOutput(); err != nil {
		testenv.Missing(t, "mosquitto_passwd: %v %s", err, out)
	}
	_ = os.Chmod(pwfile, 0o644)
	broker := testenv.StartMosquitto(t, testenv.ListenerConf(fmt.Sprintf(`allow_anonymous false
password_file %s
cafile %s
certfile %s
keyfile %s
require_certificate true
`, pwfile, certs.CA, certs.ServerCert, certs.ServerKey)))
	kafka := testenv.StartKafka(t)
	url := fmt.Sprintf("ssl://127.0.0.1:%d", broker.Port)
	cfg, err := edge.Parse([]byte(fmt.Sprintf(`gateway_id: tls-gw
data_dir: %s
http: {listen: "127.0.0.1:0"}
mqtt:
  broker: %s
  username: gw
  password: gw-secret
  tls: {ca_file: %s, cert_file: %s, key_file: %s}
kafka: {brokers: [%s], create_topics: true}
inference: {onnxruntime_lib: %s}
`, t.TempDir(), url, certs.CA, certs.ClientCert, certs.ClientKey, kafka.Seeds()[0], testenv.ONNXRuntimeLib(t))))
	if err != nil {
		t.Fatal(err)
	}
	app, err := edge.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !app.Status().MQTT.Connected {
		if time.Now().After(deadline) {
			t.Fatal("edgepm did not connect over mutual TLS with a password")
		}
		time.Sleep(50 * time.Millisecond)
	}

	pub := tlsClient(t, url, certs, "publisher")
	for i := 1; i <= 20; i++ {
		tok := pub.Publish("plant/s/l/pump-tls/telemetry", 1, false, fmt.Sprintf(`{"seq":%d,"values":{"vibration_rms":2}}`, i))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		var committed float64
		if _, err := fmt.Sscan(metricLine(t, app, "edgepm_ingest_readings_total"), &committed); err == nil && committed >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readings over TLS were not committed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tlsClient(t *testing.T, url string, certs testenv.TLSFiles, id string) mqtt.Client {
	t.Helper()
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername("gw").SetPassword("gw-secret").
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
