package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edgepm/edgepm/inference"
)

// modelStore keeps accepted packages on disk so a restart with Kafka down
// serves the last good model at once:
//
//	DIR/NAME/VERSION/{manifest.json,model.onnx,manifest.sig}   (inference.WritePackageDir: atomic files)
//	DIR/NAME/current                                           the active VERSION (temp, fsync, rename, fsync dir)
//	DIR/.staging/NAME/VERSION/I                                chunks being received (rebuilt from Kafka)
//
// Not safe for concurrent use (the watcher's goroutine owns it).
type modelStore struct{ dir string }

func (s modelStore) versionDir(name, version string) string {
	return filepath.Join(s.dir, name, version)
}

// save stores pkg atomically under NAME/VERSION (not yet current).
func (s modelStore) save(name, version string, pkg *inference.Package) error {
	return inference.WritePackageDir(s.versionDir(name, version), pkg)
}

// setCurrent makes version the one restored at start-up, atomically.
func (s modelStore) setCurrent(name, version string) error {
	return writeFileAtomic(filepath.Join(s.dir, name, "current"), []byte(version+"\n"))
}

func (s modelStore) current(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name, "current"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (s modelStore) load(name, version string) (*inference.Package, error) {
	return inference.LoadPackageDir(s.versionDir(name, version))
}

// names lists models with a current version.
func (s modelStore) names() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if _, err := s.current(e.Name()); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// retire removes the current pointer (the versions stay for rollback).
func (s modelStore) retire(name string) error {
	err := os.Remove(filepath.Join(s.dir, name, "current"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Join(s.dir, name))
}

// prune keeps the newest keep version dirs of name besides current.
func (s modelStore) prune(name, current string, keep int) {
	ents, err := os.ReadDir(filepath.Join(s.dir, name))
	if err != nil {
		return
	}
	type v struct {
		name string
		mod  int64
	}
	var vs []v
	for _, e := range ents {
		if e.IsDir() && e.Name() != current {
			if info, err := e.Info(); err == nil {
				vs = append(vs, v{e.Name(), info.ModTime().UnixNano()})
			}
		}
	}
	slices.SortFunc(vs, func(a, b v) int { return int(b.mod - a.mod) })
	for i := keep; i < len(vs); i++ {
		_ = os.RemoveAll(filepath.Join(s.dir, name, vs[i].name))
	}
}

// staging

func (s modelStore) stagingDir(name, version string) string {
	return filepath.Join(s.dir, ".staging", name, version)
}

func (s modelStore) putChunk(name, version string, i int, b []byte) error {
	d := s.stagingDir(name, version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, fmt.Sprint(i)), b, 0o644)
}

func (s modelStore) chunk(name, version string, i int) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.stagingDir(name, version), fmt.Sprint(i)))
}

func (s modelStore) hasChunk(name, version string, i int) bool {
	_, err := os.Stat(filepath.Join(s.stagingDir(name, version), fmt.Sprint(i)))
	return err == nil
}

func (s modelStore) dropStaging(name, version string) {
	_ = os.RemoveAll(s.stagingDir(name, version))
}

func (s modelStore) clearStaging() error { return os.RemoveAll(filepath.Join(s.dir, ".staging")) }

func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
