package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/scribegate/scribegate/connectors/internal/atomicfile"
)

// check fails t unless path holds data with mode perm (exactly: 0o604 is
// one the usual umask would narrow) and no temporary file is left in dirs.
func check(t *testing.T, path, data string, perm fs.FileMode, dirs ...string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != data {
		t.Errorf("%s holds %q, %v; want %q", path, got, err, data)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), perm)
	}
	noTemp(t, dirs...)
}

// noTemp fails t if dirs hold anything but the files the test made.
func noTemp(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if n := e.Name(); n != "note" && n != "taken" {
				t.Errorf("%s left behind in %s", n, dir)
			}
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "note")
	if err := atomicfile.WriteFile(path, []byte("first"), 0o604); err != nil {
		t.Fatal(err)
	}
	check(t, path, "first", 0o604, dir)
	// It replaces, mode included.
	if err := atomicfile.WriteFile(path, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	check(t, path, "second", 0o600, dir)
}

func TestWriteFileFails(t *testing.T) {
	dir := t.TempDir()
	// A non-empty folder cannot be renamed over: the write fails after the
	// temporary file is written, and must take it away.
	taken := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(taken, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(taken, []byte("data"), 0o600); err == nil {
		t.Fatal("WriteFile over a folder succeeded")
	}
	noTemp(t, dir)
	// A missing folder: nothing is created.
	if err := atomicfile.WriteFile(filepath.Join(dir, "missing", "note"), []byte("data"), 0o600); err == nil {
		t.Fatal("WriteFile into a missing folder succeeded")
	}
	noTemp(t, dir)
}

func TestCreate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		staging bool // a separate temporary folder, as a watched inbox has
	}{{"beside", false}, {"staged", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, tempDir := t.TempDir(), ""
			dirs := []string{dir}
			if tc.staging {
				tempDir = t.TempDir()
				dirs = append(dirs, tempDir)
			}
			path := filepath.Join(dir, "note")
			if err := atomicfile.Create(tempDir, path, []byte("first"), 0o604); err != nil {
				t.Fatal(err)
			}
			check(t, path, "first", 0o604, dirs...)
			// It never replaces: a second create fails with fs.ErrExist,
			// leaving the first file as it was and no temporary file.
			err := atomicfile.Create(tempDir, path, []byte("second"), 0o600)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second Create: %v, want fs.ErrExist", err)
			}
			check(t, path, "first", 0o604, dirs...)
		})
	}
}
