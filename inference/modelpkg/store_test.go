package modelpkg

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	pkg := testPackage(t, "m", "1", 4)
	if s.Has("m", "1") {
		t.Fatal("empty store has m/1")
	}
	if _, err := s.Current("m"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("current of an empty store: %v", err)
	}
	if err := s.Save("m", "1", pkg); err != nil {
		t.Fatal(err)
	}
	if !s.Has("m", "1") {
		t.Fatal("saved package not found")
	}
	if names, err := s.Names(); err != nil || len(names) != 0 {
		t.Fatalf("names before current: %v %v", names, err)
	}
	if err := s.SetCurrent("m", "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Current("m"); err != nil || v != "1" {
		t.Fatalf("current %q %v", v, err)
	}
	got, err := s.Load("m", "1")
	if err != nil || string(got.Manifest) != string(pkg.Manifest) || string(got.ONNX) != string(pkg.ONNX) {
		t.Fatalf("load: %v", err)
	}
	if names, err := s.Names(); err != nil || !slices.Equal(names, []string{"m"}) {
		t.Fatalf("names %v %v", names, err)
	}
	if sel, err := s.Selected(); err != nil || sel != "" {
		t.Fatalf("selected %q %v", sel, err)
	}
	if err := s.SetSelected("m"); err != nil {
		t.Fatal(err)
	}
	if sel, err := s.Selected(); err != nil || sel != "m" {
		t.Fatalf("selected %q %v", sel, err)
	}
	if err := s.Retire("m"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Current("m"); !errors.Is(err, fs.ErrNotExist) || !s.Has("m", "1") {
		t.Fatalf("retire: current %v, versions must stay", err)
	}
	if err := s.Remove("m", "1"); err != nil || s.Has("m", "1") {
		t.Fatalf("remove: %v", err)
	}
}

// Names from the models topic never become paths outside the store.
func TestStoreRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(filepath.Join(dir, "models"))
	pkg := testPackage(t, "m", "1", 4)
	for _, bad := range []string{"", ".", "..", "../x", "a/b", ".hidden", "current", `a\b`, "x y"} {
		if err := s.Save(bad, "1", pkg); !errors.Is(err, ErrBadName) {
			t.Errorf("save name %q: %v", bad, err)
		}
		if err := s.Save("m", bad, pkg); !errors.Is(err, ErrBadName) {
			t.Errorf("save version %q: %v", bad, err)
		}
		if err := s.PutChunk("m", bad, 0, []byte("x")); !errors.Is(err, ErrBadName) {
			t.Errorf("stage version %q: %v", bad, err)
		}
		if err := s.SetSelected(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("select %q: %v", bad, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models", ".selected"), []byte("../etc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Selected(); !errors.Is(err, ErrBadName) {
		t.Fatalf("a .selected naming a path: %v", err)
	}
}

func TestStoreStaging(t *testing.T) {
	s := NewStore(t.TempDir())
	for i, b := range [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")} {
		if err := s.PutChunk("m", "2", i, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutChunk("other", "1", 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Stray files are not chunks.
	for _, stray := range []string{"01", "-1", ".chunk123", "x"} {
		if err := os.WriteFile(filepath.Join(s.stagingDir("m", "2"), stray), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := s.StagedChunks("m", "2")
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("staged %v", got)
	}
	if b, err := s.Chunk("m", "2", 1); err != nil || string(b) != "bb" {
		t.Fatalf("chunk 1: %q %v", b, err)
	}
	s.DropChunk("m", "2", 1)
	if _, err := s.Chunk("m", "2", 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dropped chunk: %v", err)
	}
	for _, v := range []string{"3", "4"} { // a shadow being staged, a version nobody wants
		if err := s.PutChunk("m", v, 0, []byte("s")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CleanStaging("m", "2", "3"); err != nil {
		t.Fatal(err)
	}
	if len(s.StagedChunks("other", "1")) != 0 || len(s.StagedChunks("m", "2")) != 2 || len(s.StagedChunks("m", "3")) != 1 || len(s.StagedChunks("m", "4")) != 0 {
		t.Fatalf("clean kept other %v, m/2 %v, m/3 %v, m/4 %v", s.StagedChunks("other", "1"), s.StagedChunks("m", "2"),
			s.StagedChunks("m", "3"), s.StagedChunks("m", "4"))
	}
	if err := s.CleanStaging("", ""); err != nil || len(s.StagedChunks("m", "2")) != 0 {
		t.Fatalf("clean all: %v", err)
	}
}

func TestStorePruneKeepsNewest(t *testing.T) {
	s := NewStore(t.TempDir())
	pkg := testPackage(t, "m", "1", 4)
	for i, v := range []string{"1", "2", "3", "4"} {
		if err := s.Save("m", v, pkg); err != nil {
			t.Fatal(err)
		}
		// Order by modification time without waiting for the clock.
		mt := time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)
		if err := os.Chtimes(s.versionDir("m", v), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	s.Prune("m", "4", 1)
	for v, want := range map[string]bool{"1": false, "2": false, "3": true, "4": true} {
		if s.Has("m", v) != want {
			t.Errorf("after prune: has %s = %v, want %v", v, !want, want)
		}
	}
}

// TestStoreRelease: the highest release accepted survives a new Store on
// the same directory, is never a version directory, and a damaged file is
// an error that names it (not a counter of 0).
func TestStoreRelease(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	if n, d, err := s.Release("m"); n != 0 || d != "" || err != nil {
		t.Fatalf("no release yet: %d %q %v", n, d, err)
	}
	digest := strings.Repeat("ab", 32)
	if err := s.SetRelease("m", 7, digest); err != nil {
		t.Fatal(err)
	}
	if n, d, err := NewStore(dir).Release("m"); n != 7 || d != digest || err != nil {
		t.Fatalf("after SetRelease: %d %q %v", n, d, err)
	}
	if s.Has("m", ".release") || ValidName(".release") {
		t.Fatal("the release file can be taken for a version")
	}
	if err := os.WriteFile(filepath.Join(dir, "m", ".release"), []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Release("m"); err == nil || !strings.Contains(err.Error(), ".release") {
		t.Fatalf("damaged release file: %v", err)
	}
	if err := s.SetRelease("../x", 1, digest); !errors.Is(err, ErrBadName) {
		t.Fatalf("bad name: %v", err)
	}
}
