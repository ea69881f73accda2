package modelpkg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/edgepm/edgepm/internal/atomicfile"
)

// Store keeps accepted packages on disk (data_dir/models) so a restart with
// Kafka down serves the last good model at once:
//
//	DIR/NAME/VERSION/{manifest.json,model.onnx,manifest.sig}   (WritePackageDir: atomic files)
//	DIR/NAME/current                                           the active VERSION (temp, fsync, rename, fsync dir)
//	DIR/NAME/.release                                          "COUNTER SHA256": the highest release accepted (atomic)
//	DIR/.selected                                              the model NAME this gateway serves (atomic)
//	DIR/.staging/NAME/VERSION/I                                verified chunks of the one version being received
//
// Every NAME and VERSION is checked with ValidName before it becomes a
// path (a name cannot be ".", "..", start with '.' or hold a separator), so
// nothing is written outside DIR whatever the models topic holds. The store
// does not check signatures: apply a Policy to what Load returns.
//
// Not safe for concurrent use: one goroutine owns a Store (the model
// watcher's). Every method blocks on the file system.
type Store struct{ dir string }

// NewStore returns the store kept in dir (created by the first write).
func NewStore(dir string) *Store { return &Store{dir: dir} }

// ErrBadName is returned for a name or version that cannot be a path
// element (see ValidName).
var ErrBadName = errors.New("bad model name or version")

func checkNames(name, version string) error {
	if !ValidName(name) || !ValidName(version) {
		return fmt.Errorf("model store %q/%q: %w", name, version, ErrBadName)
	}
	return nil
}

func (s *Store) versionDir(name, version string) string {
	return filepath.Join(s.dir, name, version)
}

// Has reports whether a complete package of name/version is stored.
func (s *Store) Has(name, version string) bool {
	if checkNames(name, version) != nil {
		return false
	}
	for _, f := range []string{ManifestFile, ONNXFile} {
		if _, err := os.Stat(filepath.Join(s.versionDir(name, version), f)); err != nil {
			return false
		}
	}
	return true
}

// Save stores pkg atomically under NAME/VERSION (not yet current).
func (s *Store) Save(name, version string, pkg *Package) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	return WritePackageDir(s.versionDir(name, version), pkg)
}

// SetCurrent makes version the one restored at start-up, atomically.
func (s *Store) SetCurrent(name, version string) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, name, "current"), []byte(version+"\n"), 0o644)
}

// Current returns the version of name restored at start-up (an error
// wrapping fs.ErrNotExist when there is none).
func (s *Store) Current(name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("model store %q: %w", name, ErrBadName)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name, "current"))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	return v, checkNames(name, v)
}

// releaseFile is hidden so that no VERSION (it starts with a letter or
// digit) can be its name.
const releaseFile = ".release"

// Release returns the highest release counter accepted for name and the
// hex sha256 of that release's bytes (0 and "" when none was).
func (s *Store) Release(name string) (counter uint64, digest string, err error) {
	if !ValidName(name) {
		return 0, "", fmt.Errorf("model store %q: %w", name, ErrBadName)
	}
	path := filepath.Join(s.dir, name, releaseFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	f := strings.Fields(string(b))
	if len(f) == 2 && len(f[1]) == 64 {
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			return n, f[1], nil
		}
	}
	return 0, "", fmt.Errorf("%s does not hold \"COUNTER SHA256\" (remove it to accept the next signed release)", path)
}

// SetRelease records the highest release accepted for name, atomically.
func (s *Store) SetRelease(name string, counter uint64, digest string) error {
	if !ValidName(name) {
		return fmt.Errorf("model store %q: %w", name, ErrBadName)
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, name, releaseFile), fmt.Appendf(nil, "%d %s\n", counter, digest), 0o644)
}

// Load reads the stored package of name/version (LoadPackageDir).
func (s *Store) Load(name, version string) (*Package, error) {
	if err := checkNames(name, version); err != nil {
		return nil, err
	}
	return LoadPackageDir(s.versionDir(name, version))
}

// Selected returns the remembered model name ("" when none).
func (s *Store) Selected() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, ".selected"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if !ValidName(name) {
		return "", fmt.Errorf("model store: .selected holds %q: %w", name, ErrBadName)
	}
	return name, nil
}

// SetSelected remembers the model name this gateway serves, atomically.
func (s *Store) SetSelected(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("model store %q: %w", name, ErrBadName)
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, ".selected"), []byte(name+"\n"), 0o644)
}

// Names lists models with a current version, sorted by name.
func (s *Store) Names() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidName(e.Name()) {
			if _, err := s.Current(e.Name()); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// Remove deletes the stored package of name/version (one that no longer
// loads or was rejected on activation).
func (s *Store) Remove(name, version string) error {
	if err := checkNames(name, version); err != nil {
		return err
	}
	return os.RemoveAll(s.versionDir(name, version))
}

// Retire removes the current pointer (the versions stay for rollback).
func (s *Store) Retire(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("model store %q: %w", name, ErrBadName)
	}
	err := os.Remove(filepath.Join(s.dir, name, "current"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, name))
}

// Prune keeps the newest keep version dirs of name besides current.
func (s *Store) Prune(name, current string, keep int) {
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
		if e.IsDir() && e.Name() != current && ValidName(e.Name()) {
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

func (s *Store) stagingRoot() string { return filepath.Join(s.dir, ".staging") }

func (s *Store) stagingDir(name, version string) string {
	return filepath.Join(s.stagingRoot(), name, version)
}

func chunkFile(i int) string { return strconv.Itoa(i) }

// maxChunkFile bounds the chunk indexes read back from staging file names
// (the models topic allows fewer than 1<<20 chunks per version).
const maxChunkFile = 1 << 20

// parseChunkFile parses a staged chunk's file name: a decimal index with
// no sign or leading zeros, below maxChunkFile.
func parseChunkFile(s string) (int, bool) {
	if s == "" || len(s) > 7 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= maxChunkFile || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

// PutChunk writes chunk i of name/version (temp file, rename: a crash leaves
// either the whole chunk or none; staged chunks are verified again when
// read, so no fsync).
func (s *Store) PutChunk(name, version string, i int, b []byte) error {
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

// Chunk reads staged chunk i of name/version.
func (s *Store) Chunk(name, version string, i int) ([]byte, error) {
	if err := checkNames(name, version); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(s.stagingDir(name, version), chunkFile(i)))
}

// DropChunk removes staged chunk i of name/version, if any.
func (s *Store) DropChunk(name, version string, i int) {
	if checkNames(name, version) == nil {
		_ = os.Remove(filepath.Join(s.stagingDir(name, version), chunkFile(i)))
	}
}

// StagedChunks lists the chunk indexes staged for name/version.
func (s *Store) StagedChunks(name, version string) []int {
	if checkNames(name, version) != nil {
		return nil
	}
	ents, _ := os.ReadDir(s.stagingDir(name, version))
	var out []int
	for _, e := range ents {
		if i, ok := parseChunkFile(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, i)
		}
	}
	return out
}

// CleanStaging removes everything staged except the keepVersions of
// keepName ("" keeps nothing): versions nobody wants any more, stray files.
// (A gateway stages at most two versions of its name: the served one and a
// shadow.)
func (s *Store) CleanStaging(keepName string, keepVersions ...string) error {
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
			if !slices.Contains(keepVersions, v.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(s.stagingRoot(), n.Name(), v.Name())))
			}
		}
	}
	return errors.Join(errs...)
}
