package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// cmdKeygen makes an ed25519 model-signing key pair: the private key (base64
// of the 64-byte key, mode 0600) in --out, the public key (base64 of 32
// bytes, what inference.public_keys takes) in --out.pub and on stdout.
func cmdKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "edgepm-model.key", "private key file to create (public key: FILE.pub)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return failModel(stderr, err)
	}
	pubB64 := base64.StdEncoding.EncodeToString(pub)
	if err := writeNewFile(*out, []byte(base64.StdEncoding.EncodeToString(priv)+"\n"), 0o600); err != nil {
		return failModel(stderr, err)
	}
	if err := writeNewFile(*out+".pub", []byte(pubB64+"\n"), 0o644); err != nil {
		return failModel(stderr, err)
	}
	fmt.Fprintf(stderr, "private key: %s (keep it off the gateways)\npublic key:  %s.pub (put it in inference.public_keys)\n", *out, *out)
	fmt.Fprintln(stdout, pubB64)
	return 0
}

func writeNewFile(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	return f.Close()
}

const modelUsage = `usage:
  edgepm model build --onnx m.onnx --spec spec.yaml --out DIR [--train readings.jsonl|.csv] [--key KEYFILE]
  edgepm model validate DIR [--gateway ID] [--public-key KEY.pub]
  edgepm model sign DIR --key KEYFILE
  edgepm model push --dir DIR | --file m.onnx --manifest m.json|m.yaml [--key KEYFILE | --unsigned] [--force] [kafka flags] [--chunk-size BYTES]
  edgepm model list [kafka flags] [--json]
  edgepm model rollback NAME --to VERSION [--key KEYFILE] [--reason TEXT] [kafka flags]
staged rollout (docs/operations.md, "Staged rollout"; every command signs with --key KEYFILE):
  edgepm model push ... --key KEYFILE --canary N|P%|ID,GLOB,... [--auto [--window 10m]]
  edgepm model shadow NAME VERSION --key KEYFILE [--on N|P%|ID,GLOB,...] [--auto [--window 10m] [--min-agreement 0.95]]
  edgepm model promote NAME --key KEYFILE [--reason TEXT]
  edgepm model abort NAME --key KEYFILE [--reason TEXT]
kafka flags: --config /etc/edgepm/edgepm.yaml (its kafka: section) and/or --brokers host:port,...
`

func cmdModel(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, modelUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch args[0] {
	case "build":
		return cmdModelBuild(args[1:], stdout, stderr)
	case "validate":
		return cmdModelValidate(args[1:], stdout, stderr)
	case "sign":
		return cmdModelSign(args[1:], stdout, stderr)
	case "push":
		return cmdModelPush(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdModelList(ctx, args[1:], stdout, stderr)
	case "rollback":
		return cmdModelRollback(ctx, args[1:], stdout, stderr)
	case "promote", "abort":
		return cmdModelTransition(ctx, args[0], args[1:], stdout, stderr)
	case "shadow":
		return cmdModelShadow(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, modelUsage)
		return 0
	}
	fmt.Fprintf(stderr, "edgepm model: unknown command %q\n%s", args[0], modelUsage)
	return 2
}

// kafkaFlags adds --config, --brokers and --timeout; kafka() resolves them.
type kafkaFlags struct {
	config, brokers *string
	timeout         *time.Duration
}

func addKafkaFlags(fs *flag.FlagSet) kafkaFlags {
	return kafkaFlags{
		config:  fs.String("config", "", "appliance config file whose kafka: section to use (TLS, SASL, prefix)"),
		brokers: fs.String("brokers", "", "comma-separated seed brokers (overrides the config)"),
		timeout: fs.Duration("timeout", 2*time.Minute, "give up after this long"),
	}
}

func (k kafkaFlags) kafka() (bridge.Config, error) {
	var cfg bridge.Config
	if *k.config != "" {
		c, err := edge.Load(*k.config)
		if err != nil {
			return cfg, err
		}
		cfg = c.Kafka
	}
	if *k.brokers != "" {
		cfg.Brokers = strings.Split(*k.brokers, ",")
	}
	if cfg.GatewayID == "" {
		cfg.GatewayID = "edgepm-operator"
	}
	return cfg, cfg.Validate()
}

func cmdModelPush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs)
	file := fs.String("file", "", "ONNX model file")
	manPath := fs.String("manifest", "", "manifest (JSON or YAML); onnx_sha256 is filled in")
	keyPath := fs.String("key", "", "private key file from `edgepm keygen`")
	unsigned := fs.Bool("unsigned", false, "push without a signature (gateways need allow_unsigned: development only)")
	chunk := fs.Int("chunk-size", bridge.DefaultChunkSize, "bytes per chunk record (below the broker's message.max.bytes)")
	dir := fs.String("dir", "", "package directory (from `edgepm model build`) instead of --file and --manifest")
	force := fs.Bool("force", false, "push even if the package does not validate (gateways will reject it)")
	lib := fs.String("onnxruntime-lib", os.Getenv("ONNXRUNTIME_LIB"), "libonnxruntime.so for the validation (default: $ONNXRUNTIME_LIB, then where `edgepm run` looks)")
	canary := fs.String("canary", "", "send the version to a subset first: N or P% of the gateways serving the model, or ids and globs (needs --key)")
	rf := addRuleFlags(fs)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if (*dir == "") == (*file == "" || *manPath == "") || (*dir == "" && *keyPath == "" && !*unsigned) {
		fmt.Fprint(stderr, "edgepm model push: --dir, or --file, --manifest and --key (or --unsigned), are required\n"+modelUsage)
		return 2
	}
	if *canary != "" && *keyPath == "" {
		fmt.Fprint(stderr, errNoKey("model push --canary"))
		return 2
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	pkg, err := pushPackage(*dir, *file, *manPath, *keyPath)
	if err != nil {
		return failModel(stderr, err)
	}
	if !*force {
		if err := validateForPush(pkg, *lib); err != nil {
			return failModel(stderr, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	start := time.Now()
	if *canary != "" {
		if err := canaryPush(ctx, signFlags{kafkaFlags: kf, key: keyPath}, rf, pkg, *canary, *chunk, stdout); err != nil {
			return failModel(stderr, err)
		}
		return 0
	}
	opts, err := releaseKeyOption(*keyPath)
	if err != nil {
		return failModel(stderr, err)
	}
	env, err := bridge.PublishModel(ctx, cfg, pkg, *chunk, nil, opts...)
	if err != nil {
		return failModel(stderr, err)
	}
	if len(opts) == 0 {
		fmt.Fprintln(stderr, warnUnsignedPointer)
	}
	fmt.Fprintf(stdout, "pushed %s: %d bytes in %d chunks to %s in %s (sha256 %s, signed %v)\n",
		env.ID(), env.ONNXSize, env.Chunks, cfg.WithDefaults().Topic(bridge.DefaultModelsTopic),
		time.Since(start).Round(time.Millisecond), env.ONNXSHA256[:16], len(env.Signature) > 0)
	return 0
}

// buildPackage reads the manifest (JSON or YAML) and ONNX file, fills in
// onnx_sha256, validates, and signs with the key file unless keyPath is "".
func buildPackage(onnxPath, manPath, keyPath string) (*modelpkg.Package, error) {
	onnx, err := os.ReadFile(onnxPath)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	mb, err := os.ReadFile(manPath)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if ext := strings.ToLower(filepath.Ext(manPath)); ext == ".yaml" || ext == ".yml" {
		if mb, err = yamlToJSON(mb); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", manPath, err)
		}
	}
	var man modelpkg.Manifest
	if err := json.Unmarshal(mb, &man); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", manPath, err)
	}
	pkg, err := modelpkg.NewPackage(&man, onnx)
	if err != nil {
		return nil, err
	}
	if keyPath == "" {
		return pkg, nil
	}
	if err := signWithKeyFile(pkg, keyPath); err != nil {
		return nil, err
	}
	return pkg, nil
}

func yamlToJSON(b []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func cmdModelList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	infos, err := bridge.ListModels(ctx, cfg, nil)
	if err != nil {
		return failModel(stderr, err)
	}
	if *asJSON {
		return printModelJSON(stdout, stderr, infos)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCURRENT\tPUBLISHED\tBYTES\tCHUNKS\tSIGNED\tKEPT VERSIONS\tINCOMPLETE")
	for _, mi := range infos {
		cur, pub, size, chunks, signed := "(retired)", "-", "-", "-", "-"
		if c := mi.Current; c != nil {
			cur, pub, size, chunks = c.Version, c.Published.Format(time.RFC3339), fmt.Sprint(c.ONNXSize), fmt.Sprint(c.Chunks)
			signed = fmt.Sprint(len(c.Signature) > 0)
			if c.RolledBackFrom != "" {
				cur += " (rolled back from " + c.RolledBackFrom + ")"
			}
		}
		if mi.BadPointer != "" {
			cur += " (latest pointer unreadable, ignored by gateways)"
		}
		var kept []string
		for _, v := range mi.Versions {
			kept = append(kept, v.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mi.Name, cur, pub, size, chunks, signed,
			strings.Join(kept, ","), strings.Join(mi.Missing, ","))
	}
	if err := tw.Flush(); err != nil {
		return failModel(stderr, err)
	}
	return 0
}

func cmdModelRollback(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs)
	to := fs.String("to", "", "version to return to")
	keyPath := fs.String("key", "", "private key file from `edgepm keygen`: the pointer carries a signed release (gateways with public keys need one)")
	reason := fs.String("reason", "", "why, for the rollout's history (with --key)")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" || *to == "" {
		fmt.Fprint(stderr, "edgepm model rollback: NAME and --to VERSION are required\n"+modelUsage)
		return 2
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	if *keyPath != "" {
		return signedRollback(ctx, signFlags{kafkaFlags: kf, key: keyPath}, name, *to, *reason, stdout, stderr)
	}
	fmt.Fprintln(stderr, warnUnsignedPointer)
	env, err := bridge.RollbackModel(ctx, cfg, name, *to, nil)
	if err != nil {
		return failModel(stderr, err)
	}
	fmt.Fprintf(stdout, "%s now points at %s (was %s)\n", name, env.Version, dashIfEmpty(env.RolledBackFrom))
	return 0
}

const warnUnsignedPointer = "edgepm: warning: no --key: the pointer carries no signed release; gateways with inference.public_keys refuse it (only allow_unsigned takes it)"

// releaseKeyOption makes the pointer a signed release when a key file is
// given (none: a schema 1 pointer, for gateways with allow_unsigned).
func releaseKeyOption(keyPath string) ([]bridge.PublishOption, error) {
	if keyPath == "" {
		return nil, nil
	}
	priv, err := modelpkg.ReadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	return []bridge.PublishOption{bridge.WithReleaseKey(priv)}, nil
}

func printModelJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failModel(stderr, err)
	}
	return 0
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func failModel(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "edgepm: %v\n", err)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, "edgepm: is Kafka reachable? (--brokers, --config)")
	}
	return 1
}
