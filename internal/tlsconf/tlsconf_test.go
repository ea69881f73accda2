package tlsconf

import (
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

func TestValidateAndBuild(t *testing.T) {
	f := testenv.NewTLSFiles(t)
	good := Config{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey}
	if err := good.Validate("x.tls"); err != nil {
		t.Fatal(err)
	}
	tc, err := good.Build("x.tls")
	if err != nil || tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("Build: %v %+v", err, tc)
	}
	if tc, err := (Config{}).Build("x.tls"); tc != nil || err != nil {
		t.Fatalf("TLS off: %v %v", tc, err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{CertFile: f.ClientCert}, "x.tls: cert_file and key_file go together"},
		{Config{CAFile: "/nonexistent/ca.pem"}, "x.tls.ca_file"},
	} {
		if err := c.cfg.Validate("x.tls"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := (Config{CAFile: f.ClientKey}).Build("x.tls"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a key as CA: %v", err)
	}
}
