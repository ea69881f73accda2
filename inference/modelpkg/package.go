package modelpkg

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgepm/edgepm/internal/atomicfile"
)

// Files of a model package directory.
const (
	ManifestFile  = "manifest.json"
	ONNXFile      = "model.onnx"
	SignatureFile = "manifest.sig"
)

// Package is a model package as delivered: the exact manifest.json bytes
// (what the signature covers), the ONNX bytes and the signature (nil when
// unsigned). Build one from files with LoadPackageDir, or directly from
// bytes (e.g. models.Default()).
type Package struct {
	Manifest  []byte
	ONNX      []byte
	Signature []byte
}

// Decode decodes and validates the package's manifest.
func (p *Package) Decode() (*Manifest, error) { return DecodeManifest(p.Manifest) }

// LoadPackageDir reads manifest.json, model.onnx and, if present,
// manifest.sig from dir. It does not validate; Engine.Load does.
func LoadPackageDir(dir string) (*Package, error) {
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("load model package: %w", err)
	}
	o, err := os.ReadFile(filepath.Join(dir, ONNXFile))
	if err != nil {
		return nil, fmt.Errorf("load model package: %w", err)
	}
	pkg := &Package{Manifest: m, ONNX: o}
	s, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	switch {
	case err == nil:
		if pkg.Signature, err = DecodeSignature(s); err != nil {
			return nil, fmt.Errorf("load model package %s: %w", dir, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load model package: %w", err)
	}
	return pkg, nil
}

// WritePackageDir writes the package's files into dir (created if needed),
// each atomically (temp file, fsync, rename), then fsyncs dir. A nil
// signature removes a stale manifest.sig.
func WritePackageDir(dir string, pkg *Package) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write model package: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{{ONNXFile, pkg.ONNX}, {ManifestFile, pkg.Manifest}}
	if pkg.Signature != nil {
		files = append(files, struct {
			name string
			data []byte
		}{SignatureFile, EncodeSignature(pkg.Signature)})
	} else if err := os.Remove(filepath.Join(dir, SignatureFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write model package: %w", err)
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("write model package: %w", err)
		}
	}
	return atomicfile.SyncDir(dir)
}

// SHA256Hex returns the lowercase hex sha256 of b (the manifest's onnx_sha256).
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// NewPackage sets man.ONNXSHA256 from onnx, validates man and returns an
// unsigned package with the encoded manifest (use Sign to sign it).
func NewPackage(man *Manifest, onnx []byte) (*Package, error) {
	man.ONNXSHA256 = SHA256Hex(onnx)
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("new model package: %w", err)
	}
	b, err := man.Encode()
	if err != nil {
		return nil, err
	}
	return &Package{Manifest: b, ONNX: onnx}, nil
}
