package audiofile

import "time"

// CloseIdle runs the idle sweep as the compactor would at now.
func (s *Store) CloseIdle(now time.Time) { s.closeIdle(now) }

// OpenFiles counts the session files the store holds open.
func (s *Store) OpenFiles() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return len(s.cache)
}

// Crash abandons the store as a crash of the process would: the
// compactor stops and every descriptor is closed, with nothing applied,
// flushed or removed. What was written stays in the page cache, as
// after a real crash.
func (s *Store) Crash() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.bmu.Lock()
		defer s.bmu.Unlock()
		s.closeErr = ErrClosed
		s.closeFiles()
	})
}
