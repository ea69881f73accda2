package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// cmdModelValidate runs on a package directory every check a gateway runs
// before serving it, ONNX Runtime's included; with --public-key also the
// signature policy.
func cmdModelValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", "", "check targeting for this gateway id (default: skip the targeting check)")
	pubPath := fs.String("public-key", "", "also verify the signature with this public key (a .pub file or its base64)")
	lib := fs.String("onnxruntime-lib", os.Getenv("ONNXRUNTIME_LIB"), "libonnxruntime.so (default: $ONNXRUNTIME_LIB, then where `edgepm run` looks)")
	dir, args := leadingArg(args)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if dir == "" {
		fmt.Fprint(stderr, "edgepm model validate: DIR is required\n"+modelUsage)
		return 2
	}
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err == nil && *pubPath != "" {
		err = checkSignature(pkg, *pubPath)
	}
	if err == nil {
		_, err = edge.InitRuntime(*lib)
	}
	var man *modelpkg.Manifest
	if err == nil {
		man, err = validatePackage(pkg, *gateway)
	}
	if err != nil {
		return failModel(stderr, fmt.Errorf("model validate %s: %w", dir, err))
	}
	fmt.Fprintf(stdout, "%s: valid (schema_version %d, input %s %v, %d samples within tolerance, signed %v)\n",
		man.ID(), man.SchemaVersion, inputKind(man), man.InputShape(), len(man.Samples), pkg.Signature != nil)
	warnWeights(stderr, man.ID(), pkg.ONNX)
	return 0
}

// validatePackage runs the engine's checks; gateway "" skips targeting
// (an operator's machine is not a gateway).
func validatePackage(pkg *modelpkg.Package, gateway string) (*modelpkg.Manifest, error) {
	if gateway == "" {
		if man, err := pkg.Decode(); err == nil && len(man.Targeting.Gateways) > 0 {
			gateway = man.Targeting.Gateways[0] // a glob matches itself
		}
	}
	return inference.CheckPackage(pkg, inference.EngineConfig{Gateway: gateway})
}

// checkSignature applies a gateway's policy with the one public key.
func checkSignature(pkg *modelpkg.Package, pub string) error {
	b, err := os.ReadFile(pub)
	if err != nil {
		b = []byte(pub)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.PublicKeySize {
		return fmt.Errorf("--public-key %s: not a public key file or base64 of %d bytes", pub, ed25519.PublicKeySize)
	}
	return modelpkg.Policy{Keys: []ed25519.PublicKey{k}}.Check(pkg)
}

// cmdModelSign signs a package directory (writes manifest.sig) after
// checking its manifest.
func cmdModelSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key file from `edgepm keygen`")
	dir, args := leadingArg(args)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if dir == "" || *keyPath == "" {
		fmt.Fprint(stderr, "edgepm model sign: DIR and --key are required\n"+modelUsage)
		return 2
	}
	id, err := signDir(dir, *keyPath)
	if err != nil {
		return failModel(stderr, fmt.Errorf("model sign %s: %w", dir, err))
	}
	fmt.Fprintf(stdout, "signed %s (%s)\n", dir, id)
	return 0
}

// signDir signs the package in dir and returns its name:version.
func signDir(dir, keyPath string) (string, error) {
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err != nil {
		return "", err
	}
	man, err := pkg.Decode()
	if err != nil {
		return "", err
	}
	if got := modelpkg.SHA256Hex(pkg.ONNX); got != man.ONNXSHA256 {
		return "", fmt.Errorf("model.onnx has sha256 %s, manifest onnx_sha256 says %s: rebuild the package", got, man.ONNXSHA256)
	}
	if err := signWithKeyFile(pkg, keyPath); err != nil {
		return "", err
	}
	return man.ID(), modelpkg.WritePackageDir(dir, pkg)
}

// leadingArg splits off a first argument that is not a flag (DIR before
// the flags, as in `edgepm model validate DIR --gateway g`).
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// pushPackage returns the package to push: the directory's (signed with
// keyPath when given), or one built from an ONNX file and a manifest.
func pushPackage(dir, onnxPath, manPath, keyPath string) (*modelpkg.Package, error) {
	if dir == "" {
		return buildPackage(onnxPath, manPath, keyPath)
	}
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err != nil {
		return nil, err
	}
	if keyPath != "" {
		if err := signWithKeyFile(pkg, keyPath); err != nil {
			return nil, err
		}
	}
	return pkg, nil
}

// validateForPush runs the gateway's checks on pkg; a failure says that
// nothing was pushed.
func validateForPush(pkg *modelpkg.Package, lib string) error {
	if _, err := edge.InitRuntime(lib); err != nil {
		return fmt.Errorf("model push: cannot validate the package, nothing pushed: %w (or pass --force)", err)
	}
	if _, err := validatePackage(pkg, ""); err != nil {
		return fmt.Errorf("model push: package does not validate, nothing pushed (fix it, or pass --force): %w", err)
	}
	return nil
}

// inputKind names a manifest's input kind (features when unset).
func inputKind(man *modelpkg.Manifest) string {
	if man.InputKind == "" {
		return modelpkg.InputFeatures
	}
	return man.InputKind
}
