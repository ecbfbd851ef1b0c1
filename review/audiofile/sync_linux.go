package audiofile

import "golang.org/x/sys/unix"

// dirtySet is empty on Linux: syncfs(2) flushes the whole file system,
// files written, made and removed alike, without a list of them.
type dirtySet struct{}

func (dirtySet) add(name string, dir bool) {}

// syncAll flushes the directory's file system with syncfs(2), one call
// however many sessions were written. It also flushes other files on that
// file system (the notes file beside it, logs): the same writeback, done
// sooner.
func (s *Store) syncAll() error {
	return unix.Syncfs(int(s.dirf.Fd()))
}
