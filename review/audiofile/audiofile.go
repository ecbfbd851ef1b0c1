// Package audiofile is a review.AudioStore that keeps each streaming
// session's audio in a file of its own, appended to as the audio arrives.
//
// The gateway stores every session's pending audio every few milliseconds
// (group commit). In a database that is a transaction per batch plus the
// copying of a write-ahead log back into the file; here it is one write(2)
// per session into the page cache, with no transaction and no second copy.
// Audio is only ever appended, read back whole after a restart and deleted
// whole, so a file per session is all the structure it needs.
//
// # Layout
//
// A directory holds <session id>.audio for every session with audio: a
// 16-byte header (the magic "SGAUDIO1" and the session's creation time, Unix
// nanoseconds, big-endian) and then the client's bytes, offset 0 of the
// session's audio at byte 16. The creation time keeps ListAudio in
// creation order, as the other stores give it (a gateway recovering
// sessions takes the oldest first); a file's modification time changes
// with every append and its birth time is not kept by every file system.
// A file is made under a temporary name (a leading dot, which no session
// id has) and renamed into place with its header and first audio, so a
// session's file either is whole or is not there. Session ids must be
// usable as file names: [A-Za-z0-9._-], not starting with a dot, at most
// MaxIDLen bytes (the gateway's are UUIDs); on a case-insensitive file
// system ids differing only in case would share a file.
//
// # Durability
//
// An append is acknowledged (its Size returned) once write(2) has
// returned: from then on it survives a crash of the process, which leaves
// the page cache to the kernel. Against a crash of the machine (power
// loss, kernel panic), a background syncer flushes what was written about
// once a second (Options.SyncEvery), with syncfs(2) on the directory's
// file system on Linux, or elsewhere by fsyncing each file written since
// the last sync and the directory; Close and Sync flush at once. Audio
// acknowledged in the second before a machine crash may therefore be lost:
// the session's file then ends earlier (or, for a session made in that
// second, is missing), and a resuming client is told the shorter size and
// resends from there. This is the bargain of Redis with appendfsync
// everysec; the SQLite audio file this replaces (synchronous=NORMAL) was
// flushed at its checkpoints, every 50 ms or so, a shorter window bought
// with far more work per batch. On file systems that may commit a file's
// new size before its data (ext4 with data=writeback) the lost tail could
// read as zeros instead.
//
// A failed or short write (a full disk) is truncated back to the stored
// size, so a file never holds more than was acknowledged; that append
// fails on its own and the rest of its batch goes on.
//
// # Resources
//
// A session's file is opened on its first append and kept open, with its
// size in memory, so the usual append (at the stored size) is a single
// pwrite(2) with no stat or read; a resend overlapping stored bytes reads
// them to compare. Files not written for Options.IdleClose (a minute) are
// closed, so finished sessions hold no descriptor. A thousand streaming
// sessions hold a thousand descriptors beside their sockets (Go raises the
// soft open-file limit to the hard one at start).
//
// One Store at a time may use a directory.
package audiofile

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scribegate/scribegate/review"
)

var _ review.AudioStore = (*Store)(nil)

const (
	// MaxIDLen is the longest session id a Store accepts: with the
	// extension and the temporary name's dot it stays well within the
	// 255 bytes a file name may have.
	MaxIDLen = 128

	ext        = ".audio" // a session's file: <id>.audio
	tmpExt     = ".new"   // a file being made: .<id>.new (and .ping-*.new)
	magic      = "SGAUDIO1"
	headerSize = 16 // magic, then the creation time

	defaultSyncEvery = time.Second
	defaultIdleClose = time.Minute
)

// Errors callers branch on with errors.Is.
var (
	// ErrBadID is returned for a session id that cannot name a file in
	// the directory. It wraps review.ErrInvalid; reads of such an id
	// also wrap review.ErrNotFound, as nothing can be stored under it.
	ErrBadID = fmt.Errorf("%w: session id unusable as a file name (want 1 to %d of [A-Za-z0-9._-], no leading dot)", review.ErrInvalid, MaxIDLen)
	// ErrClosed is returned by every method once Close was called.
	ErrClosed = errors.New("audiofile: store closed")
)

// Options tunes a Store; the zero value gives the defaults.
type Options struct {
	// SyncEvery is how long written audio may wait for the background
	// syncer: what is acknowledged survives a machine crash at most about
	// this long after (1 s when zero).
	SyncEvery time.Duration
	// IdleClose closes the file of a session not written for this long
	// (1 min when zero), so finished sessions hold no descriptor; its
	// next append opens it again.
	IdleClose time.Duration
	// Logger receives failed background syncs and closes, with session
	// ids only (slog.Default when nil).
	Logger *slog.Logger
}

// Store is a review.AudioStore in a directory, one file per session. It is
// safe for concurrent use.
type Store struct {
	dir  string
	dirf *os.File // the directory, for syncing it
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	files  map[string]*file // sessions in use or with an open file
	closed bool

	written atomic.Bool // appended to since the last sync
	syncMu  sync.Mutex  // one sync or idle sweep at a time
	dirty   dirtySet    // what the portable syncer must fsync

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// file is a session's state. Its mu serializes the session's appends,
// reads of its size and its deletion. An entry whose f is nil when its
// user lets go is taken out of Store.files (gone), so the map holds only
// sessions in use or open; a caller finding an entry gone looks again.
type file struct {
	id   string
	mu   sync.Mutex
	f    *os.File // nil: not open
	size int64    // bytes of audio stored (while f is open)
	torn bool     // a failed write's truncation failed too: bytes beyond size
	gone bool     // no longer in Store.files
	used atomic.Int64
}

// Open opens the store in dir, creating the directory (mode 0700: it holds
// patient audio) if needed, and removes files a crash left half made.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = defaultSyncEvery
	}
	if opts.IdleClose <= 0 {
		opts.IdleClose = defaultIdleClose
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audiofile: open %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audiofile: open %s: %w", dir, err)
	}
	for _, e := range ents {
		// Never renamed into place, so never acknowledged.
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, tmpExt) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("audiofile: open %s: %w", dir, err)
			}
		}
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("audiofile: open %s: %w", dir, err)
	}
	s := &Store{dir: dir, dirf: dirf, opts: opts, log: log, files: map[string]*file{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// checkID reports whether id can name a session's file: ErrBadID, wrapped
// with the id, if not.
func checkID(id string) error {
	ok := id != "" && len(id) <= MaxIDLen && id[0] != '.'
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("audiofile: session id %q: %w", id, ErrBadID)
	}
	return nil
}

func (s *Store) path(id string) string    { return filepath.Join(s.dir, id+ext) }
func (s *Store) tmpPath(id string) string { return filepath.Join(s.dir, "."+id+tmpExt) }

// acquire returns the session's entry, locked.
func (s *Store) acquire(id string) (*file, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		e := s.files[id]
		if e == nil {
			e = &file{id: id}
			s.files[id] = e
		}
		s.mu.Unlock()
		e.mu.Lock()
		if !e.gone {
			return e, nil
		}
		e.mu.Unlock()
	}
}

// release unlocks e, first taking it out of the map if it has no file
// open.
func (s *Store) release(e *file) {
	if e.f == nil && !e.gone {
		e.gone = true
		s.mu.Lock()
		if s.files[e.id] == e {
			delete(s.files, e.id)
		}
		s.mu.Unlock()
	}
	e.mu.Unlock()
}

// openFile opens a session's file and reads its header and size. A file
// that is not there is an fs.ErrNotExist.
func openFile(path string, flag int) (f *os.File, created, size int64, err error) {
	f, err = os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("audiofile: %w", err)
	}
	var h [headerSize]byte
	st, err := f.Stat()
	if err == nil {
		_, err = f.ReadAt(h[:], 0)
	}
	if err == nil && string(h[:len(magic)]) != magic {
		err = errors.New("not a session audio file (bad header)")
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			err = errors.New("not a session audio file (shorter than its header)")
		}
		return nil, 0, 0, fmt.Errorf("audiofile: %s: %w", path, err)
	}
	return f, int64(binary.BigEndian.Uint64(h[len(magic):])), st.Size() - headerSize, nil
}

// load opens the file of e for appending, if it is there and not open.
func (s *Store) load(e *file) error {
	if e.f != nil {
		return nil
	}
	f, _, size, err := openFile(s.path(e.id), os.O_RDWR)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	e.f, e.size = f, size
	return nil
}

// create makes the session's file, absent until now, with its header
// and what fill writes, under a temporary name renamed into place: a crash
// leaves the whole file or none. The file stays open in e.
func (s *Store) create(e *file, created time.Time, fill func(w io.Writer) error) error {
	tmp := s.tmpPath(e.id)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audiofile: create audio of session %s: %w", e.id, err)
	}
	var h [headerSize]byte
	copy(h[:], magic)
	binary.BigEndian.PutUint64(h[len(magic):], uint64(created.UnixNano()))
	w := &countingWriter{w: f}
	_, err = f.Write(h[:])
	if err == nil {
		err = fill(w)
	}
	if err == nil {
		err = os.Rename(tmp, s.path(e.id))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("audiofile: create audio of session %s: %w", e.id, err)
	}
	e.f, e.size = f, w.n
	s.wrote(e.id, true)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// wrote notes that the session's file was written (and, made or removed,
// its directory too) for the next sync.
func (s *Store) wrote(id string, dir bool) {
	s.dirty.add(id, dir)
	if !s.written.Load() {
		s.written.Store(true)
	}
}

// AppendAudio implements review.AudioStore.
func (s *Store) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	batch := []review.AudioAppend{{SessionID: id, Offset: offset, Data: data}}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		return 0, err
	}
	return batch[0].Size, batch[0].Err
}

// AppendAudioBatch implements review.AudioStore: each append is one write
// to its session's file, in batch order. Every failure is the append's own
// (a gap, a mismatch, a bad id, a full disk), so the error returned is
// only for a cancelled context or a closed store, before anything is
// written.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	now := time.Now()
	for i := range batch {
		a := &batch[i]
		a.Size, a.Err = s.append(a.SessionID, a.Offset, a.Data, now)
	}
	return nil
}

// append stores one append of AppendAudioBatch.
func (s *Store) append(id string, offset int64, data []byte, now time.Time) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	e, err := s.acquire(id)
	if err != nil {
		return 0, err
	}
	defer s.release(e)
	e.used.Store(now.UnixNano())
	if err := s.load(e); err != nil {
		return 0, err
	}
	if e.f == nil {
		if offset != 0 {
			return 0, gap(id, offset, 0) // the session stays unregistered
		}
		if err := s.create(e, now, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return 0, err
		}
		return e.size, nil
	}
	if offset < 0 || offset > e.size {
		return 0, gap(id, offset, e.size)
	}
	if overlap := min(e.size-offset, int64(len(data))); overlap > 0 {
		stored := make([]byte, overlap)
		if _, err := e.f.ReadAt(stored, headerSize+offset); err != nil {
			return 0, fmt.Errorf("audiofile: compare resent audio of session %s: %w", id, err)
		}
		if !bytes.Equal(stored, data[:overlap]) {
			return 0, fmt.Errorf("audiofile: audio of session %s at %d: %w", id, offset, review.ErrAudioMismatch)
		}
		data = data[overlap:]
	}
	if len(data) == 0 {
		return e.size, nil
	}
	if e.torn {
		if err := e.f.Truncate(headerSize + e.size); err != nil {
			return 0, fmt.Errorf("audiofile: append to session %s: cut back an earlier failed write: %w", id, err)
		}
		e.torn = false
	}
	if _, err := e.f.WriteAt(data, headerSize+e.size); err != nil {
		// A short write leaves part of data in the file: cut it back so
		// the file never holds more than was acknowledged.
		if terr := e.f.Truncate(headerSize + e.size); terr != nil {
			e.torn = true
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("audiofile: append %d bytes to session %s at %d: %w", len(data), id, e.size, err)
	}
	e.size += int64(len(data))
	s.wrote(id, false)
	return e.size, nil
}

func gap(id string, offset, size int64) error {
	return fmt.Errorf("audiofile: append to session %s at %d, audio of %d bytes: %w", id, offset, size, review.ErrAudioGap)
}

// badRead is the error of AudioSize and ReadAudio for an id that cannot
// have audio.
func badRead(err error) error { return fmt.Errorf("%w (%w)", err, review.ErrNotFound) }

// AudioSize implements review.AudioStore.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, badRead(err)
	}
	e, err := s.acquire(id)
	if err != nil {
		return 0, err
	}
	defer s.release(e)
	if e.f != nil {
		return e.size, nil
	}
	f, _, size, err := openFile(s.path(id), os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, review.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	f.Close()
	return size, nil
}

// ReadAudio implements review.AudioStore. It reads through a descriptor of
// its own, up to the size stored when it started, so appends go on
// meanwhile.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	if err := checkID(id); err != nil {
		return nil, badRead(err)
	}
	e, err := s.acquire(id)
	if err != nil {
		return nil, err
	}
	f, _, size, err := openFile(s.path(id), os.O_RDONLY)
	if e.f != nil {
		size = e.size // the file may be longer: a write in progress
	}
	s.release(e)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, review.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	from = min(max(from, 0), size)
	out := make([]byte, size-from)
	if _, err := f.ReadAt(out, headerSize+from); err != nil {
		return nil, fmt.Errorf("audiofile: read audio of session %s: %w", id, err)
	}
	return out, nil
}

// DeleteAudio implements review.AudioStore. An id that cannot name a file
// has nothing to delete.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	if checkID(id) != nil {
		return nil
	}
	e, err := s.acquire(id)
	if err != nil {
		return err
	}
	defer s.release(e)
	if e.f != nil {
		e.f.Close()
		e.f, e.size, e.torn = nil, 0, false
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audiofile: delete audio of session %s: %w", id, err)
	}
	s.wrote(id, true)
	return nil
}

// ListAudio implements review.AudioStore: sessions in the order they were
// made (by the time in their headers), then by id.
func (s *Store) ListAudio(ctx context.Context) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("audiofile: list audio: %w", err)
	}
	type session struct {
		id      string
		created int64
	}
	var ss []session
	for _, ent := range ents {
		id, ok := strings.CutSuffix(ent.Name(), ext)
		if !ok || checkID(id) != nil || !ent.Type().IsRegular() {
			continue
		}
		f, created, _, err := openFile(s.path(id), os.O_RDONLY)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("audiofile: list audio: %w", err)
		}
		f.Close()
		ss = append(ss, session{id, created})
	}
	slices.SortFunc(ss, func(a, b session) int {
		return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
	})
	out := make([]string, len(ss))
	for i, x := range ss {
		out[i] = x.id
	}
	return out, nil
}

// Import stores the whole audio of a session that has none, as fill writes
// it, made at created (its place in ListAudio). It reports false, storing
// nothing, when the session already has audio, so that moving sessions
// from another store can be run again after a crash without storing any
// twice: a session's file appears whole, under its name, or not at all.
// Call Sync before removing the audio's source.
func (s *Store) Import(ctx context.Context, id string, created time.Time, fill func(w io.Writer) error) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := checkID(id); err != nil {
		return false, err
	}
	e, err := s.acquire(id)
	if err != nil {
		return false, err
	}
	defer s.release(e)
	if err := s.load(e); err != nil {
		return false, err
	}
	if e.f != nil {
		return false, nil
	}
	e.used.Store(time.Now().UnixNano())
	if err := s.create(e, created, fill); err != nil {
		return false, err
	}
	return true, nil
}

// Sync flushes everything written so far to disk (see Durability in the
// package doc); the background syncer calls it about once a second.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.written.Store(false)
	if err := s.syncAll(); err != nil {
		return fmt.Errorf("audiofile: sync %s: %w", s.dir, err)
	}
	return nil
}

// Ping checks that the directory can still be written to (a file system
// remounted read-only after an error cannot), for a readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".ping-*"+tmpExt)
	if err != nil {
		return fmt.Errorf("audiofile: ping: %w", err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// run is the background syncer, which also closes idle files.
func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(min(s.opts.SyncEvery, s.opts.IdleClose))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if s.written.Load() {
				if err := s.Sync(); err != nil {
					s.log.Error("audio sync failed", "dir", s.dir, "error", err)
				}
			}
			s.closeIdle(now)
		}
	}
}

// closeIdle closes the files of sessions not written since
// now-IdleClose. A file whose failed write could not be cut back stays
// open: its size in memory is the true one.
func (s *Store) closeIdle(now time.Time) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	before := now.Add(-s.opts.IdleClose).UnixNano()
	var idle []*file
	s.mu.Lock()
	for _, e := range s.files {
		if e.used.Load() <= before {
			idle = append(idle, e)
		}
	}
	s.mu.Unlock()
	for _, e := range idle {
		e.mu.Lock()
		if !e.gone && e.f != nil && !e.torn && e.used.Load() <= before {
			if err := e.f.Close(); err != nil {
				s.log.Warn("close idle audio file", "session_id", e.id, "error", err)
			}
			e.f = nil
		}
		s.release(e)
	}
}

// Close flushes what was written to disk and closes every file. Appends in
// progress finish first; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		es := make([]*file, 0, len(s.files))
		for _, e := range s.files {
			es = append(es, e)
		}
		s.mu.Unlock()
		var errs []error
		for _, e := range es {
			e.mu.Lock()
			if e.f != nil {
				errs = append(errs, e.f.Close())
				e.f = nil
			}
			e.gone = true
			e.mu.Unlock()
		}
		errs = append(errs, s.Sync(), s.dirf.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
