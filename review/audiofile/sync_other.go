//go:build !linux

package audiofile

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"sync"
)

// dirtySet lists the sessions written since the last sync, and whether a
// file was made or removed, where there is no syncfs(2) to flush the file
// system at once.
type dirtySet struct {
	mu  sync.Mutex
	ids map[string]struct{}
	dir bool
}

// add lists the session id (none: "") and, if dir, the directory.
func (d *dirtySet) add(id string, dir bool) {
	d.mu.Lock()
	if d.ids == nil {
		d.ids = map[string]struct{}{}
	}
	if id != "" {
		d.ids[id] = struct{}{}
	}
	d.dir = d.dir || dir
	d.mu.Unlock()
}

// take empties the set, returning what it held.
func (d *dirtySet) take() (map[string]struct{}, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids, dir := d.ids, d.dir
	d.ids, d.dir = nil, false
	return ids, dir
}

// syncAll fsyncs each file written since the last sync, through a
// descriptor of its own (fsync flushes the file, whichever descriptor
// wrote it), then the directory if a file was made or removed. What fails
// is tried again at the next sync.
func (s *Store) syncAll() error {
	ids, dir := s.dirty.take()
	var errs []error
	for id := range ids {
		f, err := os.OpenFile(s.path(id), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since
		}
		if err == nil {
			err = errors.Join(f.Sync(), f.Close())
		}
		if err != nil {
			s.dirty.add(id, false)
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
