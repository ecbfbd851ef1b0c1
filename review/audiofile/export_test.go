package audiofile

import "time"

// CloseIdle runs the idle sweep as the syncer would at now.
func (s *Store) CloseIdle(now time.Time) { s.closeIdle(now) }

// OpenFiles counts the session files the store holds open.
func (s *Store) OpenFiles() int {
	s.mu.Lock()
	es := make([]*file, 0, len(s.files))
	for _, e := range s.files {
		es = append(es, e)
	}
	s.mu.Unlock()
	n := 0
	for _, e := range es {
		e.mu.Lock()
		if e.f != nil {
			n++
		}
		e.mu.Unlock()
	}
	return n
}
