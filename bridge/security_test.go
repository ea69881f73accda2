package bridge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
)

type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	server                    *tls.Config
}

// newTestPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, writes the CA and client PEMs to files, and returns the
// server's TLS config requiring client certificates (mutual TLS).
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgepm test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "edgepm test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c, certPEM, keyPEM
	}
	srvCert, _, _ := leaf(2, x509.ExtKeyUsageServerAuth)
	_, cliCert, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p := &testPKI{
		dir:      dir,
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "client.pem"),
		keyFile:  filepath.Join(dir, "client.key"),
		server: &tls.Config{
			Certificates: []tls.Certificate{srvCert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write(p.certFile, cliCert)
	write(p.keyFile, cliKey)
	return p
}

// deliverOnce produces 50 readings with cfg and checks they arrive (read
// back with a client made from the same Config).
func deliverOnce(t *testing.T, cfg Config) {
	t.Helper()
	q := newTestQueue(t)
	appendReadings(t, q, buffer.StreamReadings, 5, 50, map[string]int{})
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProducer(t, p)
	waitFor(t, 15*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })

	opts, err := clientOpts(cfg.WithDefaults(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("edgepm.readings"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	for n < 50 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 50", n)
		}
		n += fs.NumRecords()
	}
}

func TestProducerMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	seeds := testenv.StartKafka(t, kfake.TLS(pki.server)).Seeds()
	cfg := testConfig(seeds)
	cfg.TLS = TLSConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
	deliverOnce(t, cfg)
}

func TestProducerTLSWithoutClientCertIsRejected(t *testing.T) {
	pki := newTestPKI(t)
	seeds := testenv.StartKafka(t, kfake.TLS(pki.server)).Seeds()
	cfg := testConfig(seeds)
	cfg.TLS = TLSConfig{CAFile: pki.caFile}
	q := newTestQueue(t)
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProducer(t, p)
	waitFor(t, 10*time.Second, "offline", func() bool { return p.Status().State == StateOffline })
}

func TestProducerSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			pki := newTestPKI(t)
			seeds := testenv.StartKafka(t, kfake.EnableSASL(), kfake.Superuser(mech, "edge", "s3cret-pw"),
				kfake.TLS(pki.server)).Seeds()
			cfg := testConfig(seeds)
			cfg.TLS = TLSConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
			cfg.SASL = SASLConfig{Mechanism: mech, Username: "edge", Password: "s3cret-pw"}
			deliverOnce(t, cfg)
		})
	}
}

func TestProducerSASLWrongPassword(t *testing.T) {
	seeds := testenv.StartKafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "edge", "right-pw")).Seeds()
	cfg := testConfig(seeds)
	cfg.SASL = SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "edge", Password: "wrong-pw-xyz"}
	q := newTestQueue(t)
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProducer(t, p)
	waitFor(t, 10*time.Second, "offline", func() bool { return p.Status().State == StateOffline })
	st := p.Status()
	if st.LastError == "" || strings.Contains(st.LastError, "wrong-pw-xyz") {
		t.Fatalf("last error %q", st.LastError)
	}
	if s := cfg.SASL.String(); strings.Contains(s, "wrong-pw-xyz") {
		t.Fatalf("SASLConfig.String leaks the password: %s", s)
	}
}
