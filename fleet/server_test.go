package fleet_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
)

const testToken = "s3cret-token-0123456789"

// smallView is a view with two gateways (one stale), a canary rollout and
// an alert and an event.
func smallView(t *testing.T) *fleet.View {
	v := newView(&clock{now: t0.Add(2 * time.Second)})
	for _, r := range fleetRecords(t) {
		var err error
		switch r.Topic {
		case "edgepm.gateways":
			err = v.ApplyHeartbeat(r.Key, r.Value, r.Timestamp)
		case "edgepm.models":
			err = v.ApplyModelRecord(r.Key, r.Value)
		case "edgepm.alerts":
			err = v.ApplyAlert(r.Value, r.Timestamp)
		case "edgepm.events":
			err = v.ApplyEvent(r.Value, r.Timestamp)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	v.SetCaughtUp()
	return v
}

// serve starts a server on v and stops it when the test ends.
func serve(t *testing.T, cfg fleet.ServerConfig, v *fleet.View) *fleet.Server {
	t.Helper()
	s, err := fleet.NewServer(cfg, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func do(t *testing.T, cl *http.Client, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// On loopback the console needs no token; it serves the page and the API
// and answers 405 to every write.
func TestServerLoopbackReadOnly(t *testing.T) {
	s := serve(t, fleet.ServerConfig{Listen: "127.0.0.1:0"}, smallView(t))
	base := "http://" + s.Addr()
	cl := http.DefaultClient
	if resp, body := do(t, cl, "GET", base+"/", nil); resp.StatusCode != 200 || !strings.Contains(body, `<table id="gateways">`) {
		t.Errorf("GET /: %d %.200s", resp.StatusCode, body)
	}
	if resp, _ := do(t, cl, "GET", base+"/ui/app.js", nil); resp.StatusCode != 200 {
		t.Errorf("GET /ui/app.js: %d", resp.StatusCode)
	}
	resp, body := do(t, cl, "GET", base+"/api/fleet", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/fleet: %d %s", resp.StatusCode, body)
	}
	checkSchema(t, []byte(body))
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, p := range []string{"/api/fleet", "/", "/login", "/api/rollouts"} {
			if resp, _ := do(t, cl, m, base+p, nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, want 405", m, p, resp.StatusCode)
			}
		}
	}
}

// The /api/fleet document matches docs/schemas/fleet-api.schema.json, which
// is closed: a field it does not name is an error.
func checkSchema(t *testing.T, doc []byte) {
	t.Helper()
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"model":{`, `"shadow":{`, `"alert_agreement":`, `"rollouts":[{`, `"type":"alert.raised"`, `"type":"model.activated"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the document lacks %s, so the schema check covers less: %s", want, doc)
		}
	}
	if err := set.ValidateDoc("fleet-api.schema.json", doc); err != nil {
		t.Errorf("/api/fleet does not match its schema: %v", err)
	}
	extra := strings.Replace(string(doc), `"id":"gw-a"`, `"id":"gw-a","surprise":1`, 1)
	if err := set.ValidateDoc("fleet-api.schema.json", []byte(extra)); err == nil {
		t.Error("the fleet schema accepts a field it does not name")
	}
}

// Beyond loopback the console refuses to start without TLS and a token.
func TestServerRefusesInsecureListen(t *testing.T) {
	tf := testenv.NewTLSFiles(t)
	tok := tokenFile(t, testToken)
	for name, cfg := range map[string]fleet.ServerConfig{
		"nothing":  {Listen: "0.0.0.0:0"},
		"tls only": {Listen: "0.0.0.0:0", TLSCert: tf.ServerCert, TLSKey: tf.ServerKey},
		"token":    {Listen: ":0", TokenFile: tok},
	} {
		if s, err := fleet.NewServer(cfg, smallView(t), nil); !errors.Is(err, fleet.ErrInsecureListen) {
			t.Errorf("%s: err %v, want ErrInsecureListen", name, err)
			if s != nil {
				_ = s.Serve(canceled())
			}
		}
	}
	short := fleet.ServerConfig{Listen: "127.0.0.1:0", TokenFile: tokenFile(t, "short")}
	if _, err := fleet.NewServer(short, smallView(t), nil); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a 5-character token: err %v", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func tokenFile(t *testing.T, tok string) string {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Beyond loopback with TLS and a token: no token 401, a bearer token or the
// login cookie 200, plain HTTP refused.
func TestServerTokenOverTLS(t *testing.T) {
	tf := testenv.NewTLSFiles(t)
	s := serve(t, fleet.ServerConfig{Listen: "0.0.0.0:0", TLSCert: tf.ServerCert, TLSKey: tf.ServerKey,
		TokenFile: tokenFile(t, testToken)}, smallView(t))
	if !s.TLS() {
		t.Fatal("not serving TLS")
	}
	_, port, _ := net.SplitHostPort(s.Addr())
	base := "https://127.0.0.1:" + port
	cl := tlsClient(t, tf.CA)
	for _, p := range []string{"/api/fleet", "/", "/healthz"} {
		if resp, body := do(t, cl, "GET", base+p, nil); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "gw-a") {
			t.Errorf("GET %s without a token: %d %.100s, want 401", p, resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, cl, "GET", base+"/api/fleet", map[string]string{"Authorization": "Bearer wrong-token-0123456789"}); resp.StatusCode != 401 {
		t.Errorf("a wrong token: %d", resp.StatusCode)
	}
	if resp, body := do(t, cl, "GET", base+"/api/fleet", map[string]string{"Authorization": "Bearer " + testToken}); resp.StatusCode != 200 || !strings.Contains(body, "gw-a") {
		t.Errorf("with the token: %d %.100s", resp.StatusCode, body)
	}
	if resp, _ := do(t, cl, "POST", base+"/api/fleet", map[string]string{"Authorization": "Bearer " + testToken}); resp.StatusCode != 405 {
		t.Errorf("POST with the token: %d, want 405", resp.StatusCode)
	}
	checkLogin(t, cl, base)
	if resp, err := http.Get("http://127.0.0.1:" + port + "/api/fleet"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served the API")
		}
	}
}

// checkLogin posts the login form: a wrong token 401, the right one sets
// a cookie that opens the API.
func checkLogin(t *testing.T, cl *http.Client, base string) {
	t.Helper()
	post := func(tok string) *http.Response {
		resp, err := cl.PostForm(base+"/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("nope"); resp.StatusCode != 401 {
		t.Errorf("login with a wrong token: %d", resp.StatusCode)
	}
	resp := post(testToken)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || !resp.Cookies()[0].HttpOnly {
		t.Fatalf("login: %d cookies %v", resp.StatusCode, resp.Cookies())
	}
	c := resp.Cookies()[0]
	if strings.Contains(c.Value, testToken) {
		t.Error("the cookie holds the token itself")
	}
	if resp, body := do(t, cl, "GET", base+"/api/fleet", map[string]string{"Cookie": c.Name + "=" + c.Value}); resp.StatusCode != 200 || !strings.Contains(body, `"v":1`) {
		t.Errorf("with the cookie: %d %.100s", resp.StatusCode, body)
	}
}

func tlsClient(t *testing.T, caFile string) *http.Client {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
