package audiofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A session whose file cannot be written (an I/O error in its blocks, a
// file made read-only or immutable, a size limit) must not keep every
// journal segment: the journal would grow until the disk is full, and
// each compaction would apply it all again. Its records are moved to a
// backlog of its own instead, <id>.backlog beside its file (the journal's
// magic, then its records, their checksums started from segment number
// 0, which no segment has), and the segments are let go as usual. The
// compactor appends the session's later records to the backlog (they must
// follow its own) and tries the backlog on the file again, after one
// SyncEvery, then twice as long each time, up to maxBacklogWait; once it
// is applied it is removed. Reads of the session fail meanwhile (its
// size is known); Open applies backlogs it finds, or keeps them held.
//
// A failure of the whole file system (full, over quota, read-only) is
// not one session's: then the segments stay, as before, until it passes.

const (
	backlogExt     = ".backlog"
	maxBacklogWait = 5 * time.Minute
)

// backlog is a held session's backlog file. Under Store.cmu.
type backlog struct {
	id    string
	f     *os.File
	size  int64 // bytes written, magic included
	end   int64 // the end of its furthest record, in the session's audio
	wait  time.Duration
	retry time.Time
	err   error // why the session's file could not be written
}

func (s *Store) backlogPath(id string) string { return filepath.Join(s.dir, id+backlogExt) }

// storeWide reports whether err is not one file's but the file system's
// (full, over quota, read-only) or the process's (out of descriptors).
func storeWide(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EMFILE, syscall.ENFILE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// hold starts a backlog for session id, whose file failed with cause,
// holding its records listed in sr. The caller holds cmu.
func (s *Store) hold(x *index, sr *sessionRecs, cause error) error {
	f, err := os.OpenFile(s.backlogPath(sr.id), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audiofile: start the backlog of session %s: %w", sr.id, err)
	}
	b := &backlog{id: sr.id, f: f, wait: s.opts.SyncEvery, err: cause}
	b.retry = time.Now().Add(b.wait)
	if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
		f.Close()
		os.Remove(s.backlogPath(sr.id))
		return fmt.Errorf("audiofile: start the backlog of session %s: %w", sr.id, err)
	}
	b.size = int64(len(segMagic))
	if err := s.addToBacklog(b, x, sr); err != nil {
		f.Close()
		os.Remove(s.backlogPath(sr.id))
		return err
	}
	s.wrote("", true)
	if s.held == nil {
		s.held = map[string]*backlog{}
	}
	s.held[sr.id] = b
	s.log.Error("a session's audio file cannot be written: its audio is held in a backlog beside it and tried again",
		"session_id", sr.id, "backlog", filepath.Base(s.backlogPath(sr.id)), "err", cause)
	return nil
}

// addToBacklog appends the records of sr to b with one write. The caller
// holds cmu.
func (s *Store) addToBacklog(b *backlog, x *index, sr *sessionRecs) error {
	seed := seqCRC(0)
	var buf, scratch []byte
	end := b.end
	for r := sr.first; r >= 0; {
		rc := &x.recs[r]
		data := rc.seg.data // mapped, or read
		if data != nil {
			data = data[rc.pos : rc.pos+int64(rc.n)]
		} else {
			scratch = slices.Grow(scratch[:0], int(rc.n))[:rc.n]
			if _, err := rc.seg.f.ReadAt(scratch, rc.pos); err != nil {
				return fmt.Errorf("audiofile: read journal %s: %w", segName(rc.seg.seq), err)
			}
			data = scratch
		}
		start := len(buf)
		buf = appendRecord(buf, kindAudio, sr.id, rc.off, rc.created, data)
		binary.LittleEndian.PutUint32(buf[start:], crc32.Update(seed, castagnoli, buf[start+4:]))
		end = max(end, rc.off+int64(rc.n))
		r = rc.next
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := b.f.WriteAt(buf, b.size); err != nil {
		// Cut back, so a later record never follows a torn one.
		b.f.Truncate(b.size)
		return fmt.Errorf("audiofile: add to the backlog of session %s: %w", sr.id, err)
	}
	b.size += int64(len(buf))
	b.end = end
	s.wrote(sr.id+backlogExt, false)
	return nil
}

// retryBacklogs tries each held session's backlog whose time has come on
// its file again. The caller holds cmu.
func (s *Store) retryBacklogs(now time.Time) {
	for id, b := range s.held {
		if now.Before(b.retry) {
			continue
		}
		err := s.applyBacklog(b)
		if err == nil {
			delete(s.held, id)
			s.log.Info("a held session's audio is in its file again", "session_id", id)
			continue
		}
		b.err = err
		b.wait = min(2*b.wait, maxBacklogWait)
		b.retry = now.Add(b.wait)
		s.log.Warn("a session's audio file still cannot be written", "session_id", id, "retry_in", b.wait, "err", err)
	}
}

// applyBacklog writes b's records to its session's file and, once that
// is flushed, removes b. The caller holds cmu.
func (s *Store) applyBacklog(b *backlog) error {
	g := &segment{seq: 0, f: b.f, size: b.size}
	if _, err := s.scanSegment(g); err != nil {
		return err
	}
	var x index
	x.reset()
	for i := range g.recs {
		x.add(g, &g.recs[i])
	}
	for i := range x.sessions {
		if err := s.applySession(&x, &x.sessions[i]); err != nil {
			return err
		}
	}
	if cf := s.cachedFile(b.id); cf != nil {
		if err := cf.f.Sync(); err != nil {
			return fmt.Errorf("audiofile: flush session %s: %w", b.id, err)
		}
	}
	b.f.Close()
	if err := os.Remove(s.backlogPath(b.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.wrote("", true)
	return nil
}

// dropBacklog forgets session id's backlog: its file was deleted. The
// caller holds cmu.
func (s *Store) dropBacklog(id string) {
	b := s.held[id]
	if b == nil {
		return
	}
	b.f.Close()
	os.Remove(s.backlogPath(id))
	delete(s.held, id)
}

// heldErr is the error of a read of session id while its audio is held
// in a backlog, or nil.
func (s *Store) heldErr(id string) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if b := s.held[id]; b != nil {
		return fmt.Errorf("audiofile: audio of session %s held in %s, its file cannot be written: %w", id, filepath.Base(s.backlogPath(id)), b.err)
	}
	return nil
}

// heldEnd is the end of session id's audio in its backlog (0: none), for
// its size.
func (s *Store) heldEnd(id string) int64 {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if b := s.held[id]; b != nil {
		return b.end
	}
	return 0
}

// openBacklogs, at Open, applies the backlogs a Store left, or holds
// them again. The caller holds cmu.
func (s *Store) openBacklogs(ents []fs.DirEntry) error {
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), backlogExt)
		if !ok || checkID(id) != nil || !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(s.dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		b := &backlog{id: id, f: f, size: st.Size(), wait: s.opts.SyncEvery}
		g := &segment{seq: 0, f: f, size: b.size}
		if b.size < int64(len(segMagic)) {
			b.size, g.size = int64(len(segMagic)), int64(len(segMagic))
		} else if _, err := s.scanSegment(g); err != nil {
			f.Close()
			return err
		}
		if g.size < b.size { // a torn end: cut off, so appends follow the last whole record
			if err := f.Truncate(g.size); err != nil {
				f.Close()
				return err
			}
		}
		b.size = g.size
		for _, r := range g.recs {
			b.end = max(b.end, r.off+int64(r.n))
		}
		if err := s.applyBacklog(b); err != nil {
			b.err, b.retry = err, time.Now().Add(b.wait)
			if s.held == nil {
				s.held = map[string]*backlog{}
			}
			s.held[id] = b
			s.log.Error("a session's audio file cannot be written: its audio stays held in a backlog beside it",
				"session_id", id, "backlog", e.Name(), "err", err)
		}
	}
	s.holding.Store(int32(len(s.held)))
	return nil
}
