// Package atomicfile writes a file so that a reader, or the system after a
// crash, finds either no new file or all of it: never a partial one, and
// never a name that vanishes after the write reported success. The
// connectors that deliver notes as files, and the push ledger that keeps an
// EHR from receiving a note twice, depend on both.
//
// Each write goes to a temporary file, is synced, and is then renamed
// (WriteFile, which replaces) or hard-linked (Create, which never does)
// into place; the directory is synced after, so the new name survives a
// crash. The temporary file is removed whatever happens.
package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile puts data at path, replacing any file there, as os.WriteFile
// does but atomically and durably: when it returns nil, path holds data and
// will after a crash; when it fails, path holds what it did before. The
// file's mode is perm exactly (the umask does not narrow it).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(filepath.Dir(path), path, data, perm, os.Rename)
}

// Create puts data at path with mode perm, only if nothing is there: it
// fails with an error matching fs.ErrExist otherwise, so two writers racing
// to create one name cannot both succeed. The temporary file is written in
// tempDir ("" for path's directory), which must be on path's file system
// for the link to work; naming another folder keeps temporary files out of
// one that another program watches.
func Create(tempDir, path string, data []byte, perm os.FileMode) error {
	if tempDir == "" {
		tempDir = filepath.Dir(path)
	}
	return write(tempDir, path, data, perm, os.Link)
}

// write writes data to a temporary file in tempDir, syncs it, and puts it
// at path with place (os.Rename or os.Link), then syncs path's directory.
func write(tempDir, path string, data []byte, perm os.FileMode, place func(oldpath, newpath string) error) error {
	f, err := os.CreateTemp(tempDir, ".scribegate-*.tmp")
	if err != nil {
		return err
	}
	// After a rename this finds nothing; after a link, or a failure, it
	// removes the temporary name.
	defer os.Remove(f.Name())
	if err := writeSync(f, data, perm); err != nil {
		return err
	}
	if err := place(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeSync writes data to f, gives it mode perm, and syncs and closes it.
func writeSync(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new name in dir durable: a rename or link is a change to
// the directory, which fsync of the file does not cover. Windows cannot
// sync a directory (NTFS journals names itself), so there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
