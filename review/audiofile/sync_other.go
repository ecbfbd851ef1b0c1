//go:build !linux

package audiofile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// dirtySet lists the files (session files, journal segments) written
// since the last sync, and whether a file was made or removed, where there
// is no syncfs(2) to flush the file system at once.
type dirtySet struct {
	mu    sync.Mutex
	names map[string]struct{}
	dir   bool
}

// add lists the file name in the directory (none: "") and, if dir, the
// directory.
func (d *dirtySet) add(name string, dir bool) {
	d.mu.Lock()
	if d.names == nil {
		d.names = map[string]struct{}{}
	}
	if name != "" {
		d.names[name] = struct{}{}
	}
	d.dir = d.dir || dir
	d.mu.Unlock()
}

// take empties the set, returning what it held.
func (d *dirtySet) take() (map[string]struct{}, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names, dir := d.names, d.dir
	d.names, d.dir = nil, false
	return names, dir
}

// syncAll fsyncs each file written since the last sync, through a
// descriptor of its own (fsync flushes the file, whichever descriptor
// wrote it), then the directory if a file was made or removed. What fails
// is tried again at the next sync.
func (s *Store) syncAll() error {
	names, dir := s.dirty.take()
	var errs []error
	for name := range names {
		f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since
		}
		if err == nil {
			err = errors.Join(f.Sync(), f.Close())
		}
		if err != nil {
			s.dirty.add(name, false)
			errs = append(errs, err)
		}
	}
	// Windows cannot flush a directory (NTFS journals its names itself).
	if dir && runtime.GOOS != "windows" {
		if err := s.dirf.Sync(); err != nil {
			s.dirty.add("", true)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
