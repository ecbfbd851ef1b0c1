// Package audiofile is a review.AudioStore that keeps each streaming
// session's audio in a file of its own, with a write-ahead journal in
// front of the files.
//
// The gateway stores every session's pending audio every few milliseconds
// (group commit): at a thousand sessions, ten thousand appends of a
// 100 ms frame a second. A write(2) into each session's file costs the
// kernel a block reservation and an inode update per file, several
// microseconds each time; so a batch goes to the journal instead, with one
// write, and a compactor moves each session's audio into its file about
// once a second, a second of it in one write. Audio is only ever appended,
// read back whole after a restart and deleted whole, so a file per
// session is all the structure the audio needs.
//
// # Layout
//
// A directory holds <session id>.audio for every session with audio: a
// 16-byte header (the magic "SGAUDIO1" and the session's creation time, Unix
// nanoseconds, big-endian) and then the client's bytes, offset 0 of the
// session's audio at byte 16. The creation time keeps ListAudio in
// creation order, as the other stores give it (a gateway recovering
// sessions takes the oldest first); a file's modification time changes
// with every write and its birth time is not kept by every file system.
// A file is made under a temporary name (a leading dot, which no session
// id has) and renamed into place with its header and first audio, so a
// session's file either is whole or is not there. Session ids must be
// usable as file names: [A-Za-z0-9._-], not starting with a dot, at most
// MaxIDLen bytes (the gateway's are UUIDs); on a case-insensitive file
// system ids differing only in case would share a file.
//
// Beside them, the journal: segments journal-<number>.log (the number
// zero-padded to 16 digits), each the magic "SGJRNL01" and then records.
// A record is a 26-byte header (a CRC-32C, the data's length, its offset
// in the session's audio, the creation time of the session file it is
// for, its kind, the id's length; little-endian), the session id and the
// data. The CRC covers the segment's number (not written), the rest of the
// header, the id and the data. A record is either audio or a tombstone:
// the session's file was deleted. One segment takes appends; the
// compactor seals it (the next write starts a new one), applies it to the
// session files, flushes the file system and then removes it, or keeps it
// as .journal-spare.new to be written again from its start as a later
// segment: overwriting pages the kernel holds costs it less than making
// new ones. Records left there from its earlier use fail their CRC, as
// they were written under another segment number.
//
// # Writing and reading
//
// AppendAudioBatch checks each append against its session's size in
// memory (the usual append is at that size), encodes the new bytes as
// records into one buffer, kept from batch to batch, and writes it to the
// current segment with one write(2); the appends are acknowledged (their
// Size set) when it returns. A session's first append (an empty one
// registers it) makes its file at once, with the append's bytes, so that
// ListAudio finds it in creation order. A resend overlapping bytes still
// in the journal or earlier in the batch writes the batch so far, applies
// the journal and compares the resend with the file.
//
// The compactor runs every Options.SyncEvery (a second), and sooner when
// the current segment passes 64 MiB. Each segment's records are listed in
// memory as they are written (where each one's data is, and for which
// session and offset, not the data); a session's consecutive records are
// copied from the segment, from the page cache as a rule, into one buffer
// and written to its file with one pwrite(2) at their offset. The segment
// is mapped read-only while it is applied (mmap(2), on Unix; elsewhere,
// or if mapping fails, each record is read with pread(2)): its records
// are interleaved with every other session's, and a read each cost more
// than the copying. A
// write at a record's offset writes what is there already if it was
// applied before, so applying a segment twice changes nothing. Records of
// a file that is gone, or that was made again since (another creation
// time), or that follow a tombstone of their session, are left out.
//
// AudioSize answers from memory. ReadAudio first applies the segments
// holding the session's records, if any (sealing the current one if need
// be; serialized with the compactor; without flushing), then reads the
// file. DeleteAudio writes a tombstone to the journal before it removes
// the file; a new file of the session (an append at 0, Import) waits for
// the segments up to the tombstone to be applied.
//
// # Durability
//
// An append is acknowledged once the journal write has returned: from then
// on it survives a crash of the process, which leaves the page cache to
// the kernel. Open replays the segments a crash left, in order, each up to
// its first record cut short or failing its CRC (a write the crash
// interrupted, never acknowledged), applies them, flushes and removes
// them, before anything else. Against a crash of the machine (power
// loss, kernel panic), the compactor flushes the journal and the files
// about once a second, with syncfs(2) on the directory's file system on
// Linux, or elsewhere by fsyncing each segment and file written since the
// last sync and the directory; a segment is removed only once what was
// applied from it has been flushed. Sync and Close do all that at once.
// Audio acknowledged in the second before a machine crash may therefore
// be lost: the session's audio then ends earlier (a record beyond the end
// of its file is not applied, so no hole is left), or, for a session made
// in that second, is missing; a resuming client is told the shorter size
// and resends from there. A file deleted in that second may be back, but
// no record of it from before its tombstone is applied. This is the
// bargain of Redis with appendfsync everysec; the SQLite audio file this
// replaces (synchronous=NORMAL) was flushed at its checkpoints, every
// 50 ms or so, a shorter window bought with far more work per batch. On
// file systems that may commit a file's new size before its data (ext4
// with data=writeback) the lost tail could read as zeros instead.
//
// A failed or short journal write (a full disk) is cut back to what the
// segment held, so it never holds more than was acknowledged; every append
// that was to be written with it fails, with that error (a session the
// batch made keeps its file, and that append succeeds). A session file
// that cannot be written (an I/O error in its blocks, a file made
// immutable, a size limit) has its records moved to a backlog of its own,
// <id>.backlog, and the segments go as usual; the backlog takes the
// session's later records and is tried on the file again, less and less
// often (up to every five minutes), until it is applied and removed; reads
// of that session fail meanwhile, with the cause (see backlog.go). A
// compaction failing for the whole file system (full, read-only) or the
// process (out of descriptors) is logged and tried again at the next one;
// the segments stay until then, and reads of the sessions waiting for them
// fail.
//
// # Resources
//
// Per session the store keeps its size, creation time and last segment in
// memory, so an append reads nothing; a session not written for
// Options.IdleClose (a minute) whose records are all in its file is
// forgotten, and read again from its file when next used. The compactor
// keeps open the files it writes and closes those it has not written for
// IdleClose, so a thousand streaming sessions hold a thousand descriptors
// beside their sockets (Go raises the soft open-file limit to the hard one
// at start), and finished sessions none. The audio itself is not held in
// memory, but for the segments mapped while they are applied (the page
// cache's pages, shared): the list of a segment's records (about 50 bytes each, some
// 500 KB per second of a thousand sessions' audio), the batch's buffer
// (about a batch) and the compactor's buffer (1 MiB) are. On disk the
// journal holds the segment being written, those being applied (at a
// thousand sessions a second of audio is some 32 MB) and the spare.
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

// errBadHeader is a file named as a session's whose header is not one.
var errBadHeader = errors.New("not a session audio file (bad header)")

// Options tunes a Store; the zero value gives the defaults.
type Options struct {
	// SyncEvery is how often the compactor applies the journal to the
	// session files and flushes the directory's file system: what is
	// acknowledged survives a machine crash at most about this long
	// after (1 s when zero).
	SyncEvery time.Duration
	// IdleClose closes the file of a session not written for this long
	// (1 min when zero), and forgets its size, so finished sessions hold
	// no descriptor and no memory.
	IdleClose time.Duration
	// Logger receives failed background syncs and closes, with session
	// ids only (slog.Default when nil).
	Logger *slog.Logger
}

// Store is a review.AudioStore in a directory, one file per session and a
// journal. It is safe for concurrent use.
//
// Locks, each taken only after those before it: bmu (one batch at a
// time), the sessions' entry.mu (a batch holds those of its sessions
// until its journal write), cmu (the compactor: applying the journal,
// the compactor's files), then jmu (the current segment), fmu (the
// compactor's file map) and mu (the session map), which nothing is taken
// under.
type Store struct {
	dir  string
	dirf *os.File // the directory, for syncing it
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // sessions in use, or known lately
	closed  bool

	bmu   sync.Mutex
	batch batchState // under bmu

	jmu     sync.Mutex
	cur     *segment // the segment appends go to; nil: none yet
	nextSeq uint64   // the number of the next segment made
	jclosed bool
	jtorn   bool     // a failed journal write's truncation failed too
	spare   *os.File // an applied segment kept for reuse, as spareName
	// spareRecs is an applied segment's record list, for the next.
	spareRecs []jrec

	cmu        sync.Mutex
	sealed     []*segment    // oldest first
	appliedSeq atomic.Uint64 // segments up to this one are in the files
	ix         index
	gbuf       []byte
	held       map[string]*backlog // sessions whose file cannot be written (backlog.go)
	holding    atomic.Int32        // len(held), for the compactor's tick

	fmu   sync.Mutex
	cache map[string]*cached // the compactor's open session files

	written atomic.Bool // appended to since the last sync
	dirty   dirtySet    // what the portable syncer must fsync

	kick      chan struct{} // the current segment is past segLimit
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// entry is a session's state. Its mu serializes the session's appends,
// reads of its size and its deletion. An entry is taken out of
// Store.entries (gone) when its session has no file and no record waiting
// in the journal, or when idle; a caller finding an entry gone looks
// again.
type entry struct {
	id      string
	mu      sync.Mutex
	known   bool   // the session's file exists: size and created hold
	size    int64  // bytes of audio acknowledged (in the file or the journal)
	created int64  // the file's creation time (Unix ns), in its records too
	seg     uint64 // the segment of its last record or tombstone (0: none)
	gone    bool   // no longer in Store.entries
	used    atomic.Int64

	// Under Store.bmu, by the batch holding mu.
	inBatch bool
	staged  int64 // size after the batch's appends so far
}

// Open opens the store in dir, creating the directory (mode 0700: it holds
// patient audio) if needed, removes files a crash left half made, and
// applies what a crash left in the journal.
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
	s := &Store{dir: dir, dirf: dirf, opts: opts, log: log, entries: map[string]*entry{}, cache: map[string]*cached{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	fail := func(err error) (*Store, error) {
		s.closeFiles()
		return nil, fmt.Errorf("audiofile: open %s: %w", dir, err)
	}
	if err := s.openBacklogs(ents); err != nil {
		return fail(err)
	}
	next, err := s.replay(ents)
	if err != nil {
		return fail(err)
	}
	s.nextSeq = next
	s.appliedSeq.Store(next - 1)
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
func (s *Store) now() int64               { return time.Now().UnixNano() }

// acquire returns the session's entry, locked.
func (s *Store) acquire(id string) (*entry, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		e := s.entries[id]
		if e == nil {
			e = &entry{id: id}
			s.entries[id] = e
		}
		s.mu.Unlock()
		e.mu.Lock()
		if !e.gone {
			return e, nil
		}
		e.mu.Unlock()
	}
}

// release unlocks e, first taking it out of the map if its session has
// no file and nothing of it waits in the journal.
func (s *Store) release(e *entry) {
	if !e.known && !e.gone && e.seg <= s.appliedSeq.Load() {
		s.forget(e)
	}
	e.mu.Unlock()
}

// forget takes e, locked, out of the map.
func (s *Store) forget(e *entry) {
	e.gone = true
	s.mu.Lock()
	if s.entries[e.id] == e {
		delete(s.entries, e.id)
	}
	s.mu.Unlock()
}

// openFile opens a session's file and reads its header and size. A file
// that is not there is an fs.ErrNotExist, a header not a session's
// errBadHeader.
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
		err = errBadHeader
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: shorter than its header", errBadHeader)
		}
		return nil, 0, 0, fmt.Errorf("audiofile: %s: %w", path, err)
	}
	return f, int64(binary.BigEndian.Uint64(h[len(magic):])), st.Size() - headerSize, nil
}

// load reads the size and creation time of e's file, if it is there and
// not known yet. A session not in memory has all its audio in its file.
func (s *Store) load(e *entry) error {
	if e.known {
		return nil
	}
	f, created, size, err := openFile(s.path(e.id), os.O_RDONLY)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	f.Close()
	e.known, e.size, e.created = true, max(size, s.heldEnd(e.id)), created
	e.used.Store(s.now())
	return nil
}

// create makes the session's file, absent until now, with its header
// and what fill writes, under a temporary name renamed into place: a crash
// leaves the whole file or none. Records of an earlier file of the
// session still in the journal (its deletion's) are applied first, so
// none can reach the new file.
func (s *Store) create(e *entry, created time.Time, fill func(w io.Writer) error) error {
	if e.seg > s.appliedSeq.Load() {
		if err := s.applyThrough(e.seg); err != nil {
			return fmt.Errorf("audiofile: create audio of session %s: %w", e.id, err)
		}
	}
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
	e.known, e.size, e.created = true, w.n, created.UnixNano()
	s.wrote(e.id+ext, true)
	// The compactor writes the session's records through this
	// descriptor, unless it holds one of the session already.
	s.fmu.Lock()
	if s.cache[e.id] == nil {
		s.cache[e.id] = &cached{f: f, created: e.created, size: e.size, used: s.now()}
		f = nil
	}
	s.fmu.Unlock()
	if f != nil {
		f.Close()
	}
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

// wrote notes that the named file in the directory was written (and, if
// dir, that a file was made or removed) for the next sync.
func (s *Store) wrote(name string, dir bool) {
	s.dirty.add(name, dir)
	if !s.written.Load() {
		s.written.Store(true)
	}
}

// AppendAudio implements review.AudioStore.
func (s *Store) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	return review.AppendOne(ctx, s, id, offset, data)
}

// batchState is AppendAudioBatch's, kept between batches for its buffer.
type batchState struct {
	buf  []byte   // records to write
	recs []jrec   // and what they are
	held []*entry // sessions of the batch, locked
	acks []ack    // appends acknowledged once buf is written
}

type ack struct {
	i    int // in the batch
	size int64
}

// maxKeptBuf is the largest record buffer kept for the next batch.
const maxKeptBuf = 4 << 20

// AppendAudioBatch implements review.AudioStore. Each append is checked
// against its session's size in memory and its new bytes encoded as
// journal records; the batch's records go to the journal with one write,
// and the appends are acknowledged once it returns. A session's first
// append makes its file (with the append's bytes) at once. An append's
// own failure (a gap, a mismatch, a bad id, a file that cannot be made)
// changes nothing; a failed journal write (a full disk) fails every
// append that was to be written with it. The error returned is only for a
// cancelled context or a closed store, before anything is written.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	b := &s.batch
	now := time.Now()
	for i := range batch {
		a := &batch[i]
		a.Size, a.Err = 0, nil
		e, err := s.batchEntry(a.SessionID)
		if err != nil {
			a.Err = err
			continue
		}
		e.used.Store(now.UnixNano())
		a.Err = s.stage(batch, i, e, now)
	}
	s.flush(batch)
	for _, e := range b.held {
		e.inBatch = false
		s.release(e)
	}
	clear(b.held)
	b.held = b.held[:0]
	if cap(b.buf) > maxKeptBuf {
		b.buf = nil
	}
	return nil
}

// batchEntry returns the session's entry, locked by this batch. The id
// is checked only when no entry has it: every entry's was checked before
// it was made, and at a thousand sessions a batch each 10 ms the check
// of every append's id was a noticeable part of the batch.
func (s *Store) batchEntry(id string) (*entry, error) {
	s.mu.Lock()
	e := s.entries[id]
	s.mu.Unlock()
	if e != nil && e.inBatch {
		return e, nil
	}
	if e == nil {
		if err := checkID(id); err != nil {
			return nil, err
		}
	}
	e, err := s.acquire(id)
	if err != nil {
		return nil, err
	}
	if err := s.load(e); err != nil {
		s.release(e)
		return nil, err
	}
	e.inBatch = true
	e.staged = e.size
	s.batch.held = append(s.batch.held, e)
	return e, nil
}

// stage checks append i of the batch against its session and encodes
// what it adds.
func (s *Store) stage(batch []review.AudioAppend, i int, e *entry, now time.Time) error {
	b := &s.batch
	a := &batch[i]
	id, off, data := a.SessionID, a.Offset, a.Data
	if !e.known {
		if off != 0 {
			return gap(id, off, 0) // the session stays unregistered
		}
		if err := s.create(e, now, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return err
		}
		e.staged = e.size
		a.Size = e.size // in its file already
		return nil
	}
	if off < 0 || off > e.staged {
		return gap(id, off, e.staged)
	}
	if overlap := min(e.staged-off, int64(len(data))); overlap > 0 {
		if e.staged > e.size || e.seg > s.appliedSeq.Load() {
			// Some of the bytes to compare are in this batch or the
			// journal: write the batch so far, and apply the journal.
			if err := s.flush(batch); err != nil {
				return err
			}
			if err := s.applyThrough(e.seg); err != nil {
				return err
			}
		}
		stored, err := s.readStored(id, off, overlap)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, data[:overlap]) {
			return fmt.Errorf("audiofile: audio of session %s at %d: %w", id, off, review.ErrAudioMismatch)
		}
		data, off = data[overlap:], off+overlap
	}
	for len(data) > 0 {
		n := min(len(data), maxRecordData)
		b.recs = append(b.recs, jrec{id: e.id, pos: int64(len(b.buf) + recHeader + len(id)), off: off, created: e.created, n: int32(n), kind: kindAudio})
		b.buf = appendRecord(b.buf, kindAudio, id, off, e.created, data[:n])
		data, off = data[n:], off+int64(n)
		e.staged = off
	}
	b.acks = append(b.acks, ack{i: i, size: e.staged})
	return nil
}

// flush writes the batch's records so far to the journal and settles
// the appends waiting for it. It returns the write's error, which is
// also theirs.
func (s *Store) flush(batch []review.AudioAppend) error {
	b := &s.batch
	var seq uint64
	var err error
	if len(b.buf) > 0 {
		seq, err = s.writeJournal(b.buf, b.recs)
	}
	for _, k := range b.acks {
		if err != nil {
			batch[k.i].Err = err
		} else {
			batch[k.i].Size = k.size
		}
	}
	for _, e := range b.held {
		if e.staged == e.size {
			continue
		}
		if err != nil {
			e.staged = e.size
		} else {
			e.size, e.seg = e.staged, seq
		}
	}
	b.buf = b.buf[:0]
	clear(b.recs)
	b.recs = b.recs[:0]
	b.acks = b.acks[:0]
	return err
}

// readStored reads n bytes of a session's audio at off from its file.
func (s *Store) readStored(id string, off, n int64) ([]byte, error) {
	if err := s.heldErr(id); err != nil {
		return nil, fmt.Errorf("audiofile: compare resent audio of session %s: %w", id, err)
	}
	f, _, _, err := openFile(s.path(id), os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("audiofile: compare resent audio of session %s: %w", id, err)
	}
	defer f.Close()
	stored := make([]byte, n)
	if _, err := f.ReadAt(stored, headerSize+off); err != nil {
		return nil, fmt.Errorf("audiofile: compare resent audio of session %s: %w", id, err)
	}
	return stored, nil
}

func gap(id string, offset, size int64) error {
	return fmt.Errorf("audiofile: append to session %s at %d, audio of %d bytes: %w", id, offset, size, review.ErrAudioGap)
}

// badRead is the error of AudioSize and ReadAudio for an id that cannot
// have audio.
func badRead(err error) error { return fmt.Errorf("%w (%w)", err, review.ErrNotFound) }

// AudioSize implements review.AudioStore, from memory when the session is
// known.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, badRead(err)
	}
	e, err := s.acquire(id)
	if err != nil {
		return 0, err
	}
	defer s.release(e)
	if err := s.load(e); err != nil {
		return 0, err
	}
	if !e.known {
		return 0, review.ErrNotFound
	}
	return e.size, nil
}

// ReadAudio implements review.AudioStore. The session's records still in
// the journal are applied to its file first; then the file is read
// through a descriptor of its own, up to the size stored when it started,
// so appends go on meanwhile.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	if err := checkID(id); err != nil {
		return nil, badRead(err)
	}
	e, err := s.acquire(id)
	if err != nil {
		return nil, err
	}
	err = s.load(e)
	known, size, seg := e.known, e.size, e.seg
	s.release(e)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, review.ErrNotFound
	}
	if seg > s.appliedSeq.Load() {
		if err := s.applyThrough(seg); err != nil {
			return nil, fmt.Errorf("audiofile: read audio of session %s: %w", id, err)
		}
	}
	if err := s.heldErr(id); err != nil {
		return nil, err
	}
	f, _, fsize, err := openFile(s.path(id), os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, review.ErrNotFound // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size = min(size, fsize) // shorter: deleted and made again meanwhile
	from = min(max(from, 0), size)
	out := make([]byte, size-from)
	if _, err := f.ReadAt(out, headerSize+from); err != nil {
		return nil, fmt.Errorf("audiofile: read audio of session %s: %w", id, err)
	}
	return out, nil
}

// DeleteAudio implements review.AudioStore: a tombstone goes to the
// journal before the file is removed, so that no record of the session
// still in the journal is applied after (a replay after a crash included).
// An id that cannot name a file has nothing to delete.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	if checkID(id) != nil {
		return nil
	}
	e, err := s.acquire(id)
	if err != nil {
		return err
	}
	defer s.release(e)
	if err := s.load(e); err != nil && !errors.Is(err, errBadHeader) {
		return err
	}
	if e.known {
		seq, err := s.writeJournal(appendRecord(nil, kindDelete, id, 0, e.created, nil), []jrec{{id: e.id, pos: int64(recHeader + len(id)), created: e.created, kind: kindDelete}})
		if err != nil {
			return fmt.Errorf("audiofile: delete audio of session %s: %w", id, err)
		}
		e.seg = seq
		// Let go of the compactor's descriptor (the file's space is
		// freed with its last one, and Windows removes no open file).
		s.cmu.Lock()
		s.dropCached(id)
		s.cmu.Unlock()
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audiofile: delete audio of session %s: %w", id, err)
	}
	e.known, e.size, e.created = false, 0, 0
	s.wrote("", true)
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
	if e.known {
		return false, nil
	}
	e.used.Store(s.now())
	if err := s.create(e, created, fill); err != nil {
		return false, err
	}
	return true, nil
}

// Sync applies the journal to the session files, flushes everything
// written so far to disk (see Durability in the package doc) and removes
// the journal segments applied; the background compactor calls it about
// once a second.
func (s *Store) Sync() error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.compact()
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

// run is the background compactor, which also lets go of idle sessions.
func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(min(s.opts.SyncEvery, s.opts.IdleClose))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
			s.background()
		case now := <-t.C:
			if s.written.Load() || s.holding.Load() > 0 {
				s.background()
			}
			s.closeIdle(now)
		}
	}
}

func (s *Store) background() {
	if err := s.compact(); err != nil {
		s.log.Error("audio journal compaction failed", "dir", s.dir, "err", err)
	}
}

// closeIdle forgets the sessions not written since now-IdleClose whose
// records are all in their files, and closes the compactor's files not
// written since.
func (s *Store) closeIdle(now time.Time) {
	before := now.Add(-s.opts.IdleClose).UnixNano()
	var idle []*entry
	s.mu.Lock()
	for _, e := range s.entries {
		if e.used.Load() <= before {
			idle = append(idle, e)
		}
	}
	s.mu.Unlock()
	for _, e := range idle {
		e.mu.Lock()
		if !e.gone && e.used.Load() <= before && e.seg <= s.appliedSeq.Load() {
			s.forget(e)
		}
		e.mu.Unlock()
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.fmu.Lock()
	var shut []*cached
	for id, cf := range s.cache {
		if cf.used <= before {
			shut = append(shut, cf)
			delete(s.cache, id)
		}
	}
	s.fmu.Unlock()
	for _, cf := range shut {
		if err := cf.f.Close(); err != nil {
			s.log.Warn("close idle audio file", "err", err)
		}
	}
}

// Close applies the journal to the session files, flushes them to disk,
// removes the journal and closes every file. Appends in progress finish
// first; later calls fail with ErrClosed. If the journal cannot be
// applied, it is left for the next Open.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		es := make([]*entry, 0, len(s.entries))
		for _, e := range s.entries {
			es = append(es, e)
		}
		s.mu.Unlock()
		for _, e := range es { // wait for those in progress
			e.mu.Lock()
			e.gone = true
			e.mu.Unlock()
		}
		s.bmu.Lock()
		defer s.bmu.Unlock()
		err := s.compact()
		s.closeErr = errors.Join(err, s.closeFiles())
		if err == nil { // leave no journal behind
			if err := os.Remove(filepath.Join(s.dir, spareName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.closeErr = errors.Join(s.closeErr, err)
			}
		}
	})
	return s.closeErr
}

// closeFiles closes every descriptor the store holds.
func (s *Store) closeFiles() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	var errs []error
	s.jmu.Lock()
	if s.cur != nil {
		errs = append(errs, s.cur.f.Close())
		s.cur = nil
	}
	s.jclosed = true
	if s.spare != nil {
		errs = append(errs, s.spare.Close())
		s.spare = nil
	}
	s.jmu.Unlock()
	for _, g := range s.sealed {
		g.f.Close()
	}
	s.sealed = nil
	s.fmu.Lock()
	for id, cf := range s.cache {
		errs = append(errs, cf.f.Close())
		delete(s.cache, id)
	}
	s.fmu.Unlock()
	for id, b := range s.held { // kept on disk for the next Open
		errs = append(errs, b.f.Close())
		delete(s.held, id)
	}
	if s.dirf != nil {
		errs = append(errs, s.dirf.Close())
		s.dirf = nil
	}
	return errors.Join(errs...)
}
