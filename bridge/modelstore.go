package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/atomicfile"
)

// modelStore keeps accepted packages on disk so a restart with Kafka down
// serves the last good model at once:
//
//	DIR/NAME/VERSION/{manifest.json,model.onnx,manifest.sig}   (inference.WritePackageDir: atomic files)
//	DIR/NAME/current                                           the active VERSION (temp, fsync, rename, fsync dir)
//	DIR/.selected                                              the model NAME this gateway serves (atomic)
//	DIR/.staging/NAME/VERSION/I                                verified chunks of the one version being received
//
// Every NAME and VERSION is checked with validModelName before it becomes a
// path (a name cannot be ".", "..", start with '.' or hold a separator), so
// nothing is written outside DIR whatever the models topic holds.
//
// Not safe for concurrent use (the watcher's goroutine owns it).
type modelStore struct{ dir string }

// errBadModelName is returned for a name or version that cannot be a path
// element (never reached with keys parsed by parseModelKey).
var errBadModelName = errors.New("bad model name or version")

func checkNames(name, version string) error {
	if !validModelName(name) || !validModelName(version) {
		return fmt.Errorf("model store %q/%q: %w", name, version, errBadModelName)
	}
	return nil
}

func (s modelStore) versionDir(name, version string) string {
	return filepath.Join(s.dir, name, version)
}

// has reports whether a complete package of name/version is stored.
func (s modelStore) has(name, version string) bool {
	if checkNames(name, version) != nil {
		return false
	}
	for _, f := range []string{"manifest.json", "model.onnx"} {
		if _, err := os.Stat(filepath.Join(s.versionDir(name, version), f)); err != nil {
			return false
		}
	}
	return true
}

// save stores pkg atomically under NAME/VERSION (not yet current).
func (s modelStore) save(name, version string, pkg *inference.Package) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	return inference.WritePackageDir(s.versionDir(name, version), pkg)
}

// setCurrent makes version the one restored at start-up, atomically.
func (s modelStore) setCurrent(name, version string) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, name, "current"), []byte(version+"\n"), 0o644)
}

func (s modelStore) current(name string) (string, error) {
	if !validModelName(name) {
		return "", fmt.Errorf("model store %q: %w", name, errBadModelName)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name, "current"))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	return v, checkNames(name, v)
}

func (s modelStore) load(name, version string) (*inference.Package, error) {
	if err := checkNames(name, version); err != nil {
		return nil, err
	}
	return inference.LoadPackageDir(s.versionDir(name, version))
}

// selected returns the remembered model name ("" when none).
func (s modelStore) selected() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, ".selected"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if !validModelName(name) {
		return "", fmt.Errorf("model store: .selected holds %q: %w", name, errBadModelName)
	}
	return name, nil
}

// setSelected remembers the model name this gateway serves, atomically.
func (s modelStore) setSelected(name string) error {
	if !validModelName(name) {
		return fmt.Errorf("model store %q: %w", name, errBadModelName)
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, ".selected"), []byte(name+"\n"), 0o644)
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
		if e.IsDir() && validModelName(e.Name()) {
			if _, err := s.current(e.Name()); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// retire removes the current pointer (the versions stay for rollback).
func (s modelStore) retire(name string) error {
	if !validModelName(name) {
		return fmt.Errorf("model store %q: %w", name, errBadModelName)
	}
	err := os.Remove(filepath.Join(s.dir, name, "current"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, name))
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
		if e.IsDir() && e.Name() != current && validModelName(e.Name()) {
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

func (s modelStore) stagingRoot() string { return filepath.Join(s.dir, ".staging") }

func (s modelStore) stagingDir(name, version string) string {
	return filepath.Join(s.stagingRoot(), name, version)
}

func chunkFile(i int) string { return strconv.Itoa(i) }

// putChunk writes chunk i of name/version (temp file, rename: a crash leaves
// either the whole chunk or none; staged chunks are verified again when
// read, so no fsync).
func (s modelStore) putChunk(name, version string, i int, b []byte) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	d := s.stagingDir(name, version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d, ".chunk*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(d, chunkFile(i)))
}

func (s modelStore) chunk(name, version string, i int) ([]byte, error) {
	if err := checkNames(name, version); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(s.stagingDir(name, version), chunkFile(i)))
}

func (s modelStore) dropChunk(name, version string, i int) {
	if checkNames(name, version) == nil {
		_ = os.Remove(filepath.Join(s.stagingDir(name, version), chunkFile(i)))
	}
}

// stagedChunks lists the chunk indexes staged for name/version.
func (s modelStore) stagedChunks(name, version string) []int {
	if checkNames(name, version) != nil {
		return nil
	}
	ents, _ := os.ReadDir(s.stagingDir(name, version))
	var out []int
	for _, e := range ents {
		if i, ok := parseChunkIndex(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, i)
		}
	}
	return out
}

// cleanStaging removes everything staged except keepName/keepVersion
// ("" keeps nothing): versions nobody wants any more, stray files.
func (s modelStore) cleanStaging(keepName, keepVersion string) error {
	names, err := os.ReadDir(s.stagingRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if n.Name() != keepName || !n.IsDir() {
			errs = append(errs, os.RemoveAll(filepath.Join(s.stagingRoot(), n.Name())))
			continue
		}
		versions, _ := os.ReadDir(filepath.Join(s.stagingRoot(), n.Name()))
		for _, v := range versions {
			if v.Name() != keepVersion {
				errs = append(errs, os.RemoveAll(filepath.Join(s.stagingRoot(), n.Name(), v.Name())))
			}
		}
	}
	return errors.Join(errs...)
}
