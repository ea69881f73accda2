package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

func TestModelCommands(t *testing.T) {
	t.Setenv("ONNXRUNTIME_LIB", testenv.ONNXRuntimeLib(t)) // push validates the package first
	seeds := testenv.StartKafka(t).Seeds()
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	var out, errb bytes.Buffer
	if rc := cmdKeygen([]string{"--out", key}, &out, &errb); rc != 0 {
		t.Fatalf("keygen rc %d: %s", rc, errb.String())
	}
	pub := strings.TrimSpace(out.String())
	if b, _ := os.ReadFile(key + ".pub"); strings.TrimSpace(string(b)) != pub {
		t.Fatalf("pub file %q vs stdout %q", b, pub)
	}
	if rc := cmdKeygen([]string{"--out", key}, &out, &errb); rc == 0 {
		t.Fatal("keygen overwrote an existing key")
	}

	mb, onnx := models.Default()
	push := func(version string) {
		var m map[string]any
		if err := json.Unmarshal(mb, &m); err != nil {
			t.Fatal(err)
		}
		m["version"] = version
		b, _ := json.Marshal(m)
		manPath := filepath.Join(dir, "m-"+version+".json")
		os.WriteFile(manPath, b, 0o644)
		onnxPath := filepath.Join(dir, "m.onnx")
		os.WriteFile(onnxPath, onnx, 0o644)
		out.Reset()
		errb.Reset()
		rc := cmdModel([]string{"push", "--file", onnxPath, "--manifest", manPath, "--key", key,
			"--brokers", seeds[0], "--chunk-size", "4096"}, &out, &errb)
		if rc != 0 || !strings.Contains(out.String(), "pushed edgepm-default:"+version) {
			t.Fatalf("push rc %d: %s %s", rc, out.String(), errb.String())
		}
	}
	push("1.0.1")
	push("1.0.2")

	out.Reset()
	if rc := cmdModel([]string{"list", "--brokers", seeds[0], "--json"}, &out, &errb); rc != 0 {
		t.Fatalf("list rc %d: %s", rc, errb.String())
	}
	var infos []struct {
		Name    string
		Current struct {
			Version   string
			Signature []byte
			Manifest  []byte
		}
		Versions []struct{ Version string }
		Release  struct{ Counter uint64 }
	}
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil || len(infos) != 1 ||
		infos[0].Current.Version != "1.0.2" || len(infos[0].Versions) != 2 || infos[0].Release.Counter != 2 {
		t.Fatalf("list (two signed releases): %v %s", err, out.String())
	}
	pkg := &modelpkg.Package{Manifest: infos[0].Current.Manifest, Signature: infos[0].Current.Signature}
	pubKey, _ := decodeB64Key(pub)
	if _, err := modelpkg.Verify(pkg, pubKey); err != nil {
		t.Fatalf("pushed signature does not verify with the keygen public key: %v", err)
	}

	out.Reset()
	if rc := cmdModel([]string{"rollback", "edgepm-default", "--to", "1.0.1", "--key", key, "--brokers", seeds[0]}, &out, &errb); rc != 0 {
		t.Fatalf("rollback rc %d: %s", rc, errb.String())
	}
	rel, err := bridge.LatestRelease(context.Background(), bridge.Config{Brokers: seeds}, "edgepm-default")
	if err != nil || rel == nil || rel.Counter != 3 || rel.Action != bridge.ActionRollback || rel.Version != "1.0.1" {
		t.Fatalf("release after a signed rollback: %+v %v", rel, err)
	}
	out.Reset()
	cmdModel([]string{"list", "--brokers", seeds[0]}, &out, &errb)
	if !strings.Contains(out.String(), "1.0.1 (rolled back from 1.0.2)") {
		t.Fatalf("list after rollback:\n%s", out.String())
	}
	if rc := cmdModel([]string{"rollback", "edgepm-default", "--to", "9.9", "--brokers", seeds[0]}, &out, &errb); rc == 0 {
		t.Fatal("rollback to a missing version succeeded")
	}

	// A garbage pointer record is rejected by gateways, which keep serving
	// 1.0.1: the list must say so, not show the model as retired.
	produceRaw(t, seeds, "edgepm.models", "edgepm-default", []byte("not an envelope"))
	out.Reset()
	cmdModel([]string{"list", "--brokers", seeds[0]}, &out, &errb)
	if s := out.String(); strings.Contains(s, "(retired)") || !strings.Contains(s, "1.0.1 (rolled back from 1.0.2) (latest pointer unreadable") {
		t.Fatalf("list after a garbage pointer:\n%s", s)
	}

	// Names that cannot be one directory on a gateway are refused before
	// anything is written to the topic.
	for _, bad := range []string{"../../x", "..", ".hidden", `a`, "current"} {
		var m map[string]any
		if err := json.Unmarshal(mb, &m); err != nil {
			t.Fatal(err)
		}
		m["version"] = bad
		b, _ := json.Marshal(m)
		manPath := filepath.Join(dir, "bad.json")
		os.WriteFile(manPath, b, 0o644)
		errb.Reset()
		rc := cmdModel([]string{"push", "--file", filepath.Join(dir, "m.onnx"), "--manifest", manPath, "--key", key,
			"--brokers", seeds[0]}, &out, &errb)
		if rc == 0 || !strings.Contains(errb.String(), "model version") {
			t.Fatalf("push of version %q: rc %d: %s", bad, rc, errb.String())
		}
		errb.Reset()
		rc = cmdModel([]string{"rollback", "edgepm-default", "--to", bad, "--brokers", seeds[0]}, &out, &errb)
		if rc == 0 || !strings.Contains(errb.String(), "model version") {
			t.Fatalf("rollback to %q: rc %d: %s", bad, rc, errb.String())
		}
	}
	out.Reset()
	cmdModel([]string{"list", "--brokers", seeds[0], "--json"}, &out, &errb)
	if strings.Contains(out.String(), "..") || strings.Contains(out.String(), "hidden") {
		t.Fatalf("a refused version reached the topic:\n%s", out.String())
	}
}

// produceRaw writes one record as is (no envelope, no checks).
func produceRaw(t *testing.T, seeds []string, topic, key string, value []byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

func decodeB64Key(s string) ([]ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return []ed25519.PublicKey{b}, err
}
