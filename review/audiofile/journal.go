package audiofile

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The journal: see Layout and Durability in the package doc.

const (
	segPrefix = "journal-"
	segExt    = ".log"
	segMagic  = "SGJRNL01" // a segment's first bytes

	// A record: CRC-32C (4 bytes) of the segment's number (8 bytes, not
	// written) and the rest of the record, data length (4), audio offset
	// (8), the session file's creation time (8), kind (1), id length (1),
	// then the id and the data. Little-endian. The segment's number in
	// the checksum makes the records of a file's earlier use (segments
	// are recycled) fail it.
	recHeader = 26

	// spareName is a segment applied, flushed and kept for reuse, which
	// saves the kernel making and freeing a segment's pages each second.
	// Open removes it as a file a crash left half made.
	spareName = ".journal-spare" + tmpExt

	kindAudio  = 1 // data at an offset of a session's audio
	kindDelete = 2 // the session's file (of that creation time) is removed

	// maxRecordData splits a larger append into several records, so that
	// the compactor's buffers stay small.
	maxRecordData = 1 << 20
	// segLimit is the size past which the current segment is compacted
	// before the next tick.
	segLimit = 64 << 20
	// maxKeptRecs is the longest record list kept for the next segment
	// (a segment of 3,200-byte appends holds about 20,000).
	maxKeptRecs = 1 << 16
	// readBuf is the sequential read of a segment at Open.
	readBuf = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(seq uint64) string { return fmt.Sprintf("%s%016d%s", segPrefix, seq, segExt) }

// parseSegName returns the sequence number of a segment's file name.
func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, segExt); !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil && seq > 0
}

// appendRecord encodes a record at the end of b, but for its checksum,
// which writeJournal sets once it knows the segment.
func appendRecord(b []byte, kind byte, id string, offset, created int64, data []byte) []byte {
	start := len(b)
	b = slices.Grow(b, recHeader+len(id)+len(data))[:start+recHeader]
	h := b[start:]
	binary.LittleEndian.PutUint32(h[4:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[8:], uint64(offset))
	binary.LittleEndian.PutUint64(h[16:], uint64(created))
	h[24] = kind
	h[25] = byte(len(id))
	b = append(b, id...)
	b = append(b, data...)
	return b
}

// seqCRC is the checksum of a segment's number, with which its records'
// checksums start.
func seqCRC(seq uint64) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	return crc32.Update(0, castagnoli, b[:])
}

// segment is a journal file. The current one takes appends (under
// Store.jmu); sealed ones wait to be applied and then, once synced, to be
// removed (under Store.cmu).
type segment struct {
	seq      uint64
	f        *os.File
	size     int64  // bytes written and acknowledged (at Open: the file's size)
	recs     []jrec // what it holds, as written (at Open: as read)
	applied  bool   // its records are in the session files
	writable bool   // written by this Store, so it can be the spare
	data     []byte // while it is applied: the file mapped (mapSegment), or nil
}

// jrec is a record of a segment, in memory until the segment is applied,
// so that the compactor reads back only the audio.
type jrec struct {
	id      string
	pos     int64 // of the data, in the segment (in a batch: in its buffer)
	off     int64
	created int64
	n       int32
	kind    byte
}

// newSegment makes the segment seq, empty but for its magic.
// A spare (a segment's old records past what is written) is renamed to
// it if there is one. The caller holds jmu.
func (s *Store) newSegment(seq uint64) (*segment, error) {
	name := segName(seq)
	path := filepath.Join(s.dir, name)
	if f := s.spare; f != nil {
		s.spare = nil
		err := os.Rename(filepath.Join(s.dir, spareName), path)
		if err == nil {
			_, err = f.WriteAt([]byte(segMagic), 0)
		}
		if err == nil {
			s.wrote(name, true)
			return &segment{seq: seq, f: f, size: int64(len(segMagic)), recs: s.takeRecs(), writable: true}, nil
		}
		f.Close()
		os.Remove(path)
		os.Remove(filepath.Join(s.dir, spareName))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audiofile: new journal segment: %w", err)
	}
	if _, err := f.Write([]byte(segMagic)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("audiofile: new journal segment: %w", err)
	}
	s.wrote(name, true)
	return &segment{seq: seq, f: f, size: int64(len(segMagic)), recs: s.takeRecs(), writable: true}, nil
}

// takeRecs returns the record list an applied segment let go of, for the
// next one. The caller holds jmu.
func (s *Store) takeRecs() []jrec {
	r := s.spareRecs
	s.spareRecs = nil
	return r
}

// writeJournal writes encoded records (b, described by recs) to the
// current segment with one write and returns the segment's number. A
// failed write is cut back, so the segment holds only what was
// acknowledged.
func (s *Store) writeJournal(b []byte, recs []jrec) (uint64, error) {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jclosed {
		return 0, ErrClosed
	}
	if s.cur == nil {
		g, err := s.newSegment(s.nextSeq)
		if err != nil {
			return 0, err
		}
		s.cur = g
		s.nextSeq++
	}
	g := s.cur
	seed := seqCRC(g.seq)
	for _, r := range recs {
		start := r.pos - recHeader - int64(len(r.id))
		binary.LittleEndian.PutUint32(b[start:], crc32.Update(seed, castagnoli, b[start+4:r.pos+int64(r.n)]))
	}
	if s.jtorn {
		if err := g.f.Truncate(g.size); err != nil {
			return 0, fmt.Errorf("audiofile: write journal: cut back an earlier failed write: %w", err)
		}
		s.jtorn = false
	}
	if _, err := g.f.WriteAt(b, g.size); err != nil {
		if terr := g.f.Truncate(g.size); terr != nil {
			s.jtorn = true
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("audiofile: write %d bytes to journal %s: %w", len(b), segName(g.seq), err)
	}
	for _, r := range recs {
		r.pos += g.size
		g.recs = append(g.recs, r)
	}
	g.size += int64(len(b))
	s.wrote(segName(g.seq), false)
	if !s.written.Load() {
		s.written.Store(true)
	}
	if g.size >= segLimit {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return g.seq, nil
}

// seal makes the current segment, if any, sealed: the next write makes
// a new one. The caller holds cmu.
func (s *Store) seal() error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.jclosed {
		return ErrClosed
	}
	if s.cur == nil {
		return nil
	}
	if s.jtorn { // a failed write may have left bytes beyond its size
		if err := s.cur.f.Truncate(s.cur.size); err != nil {
			return fmt.Errorf("audiofile: seal journal: cut back an earlier failed write: %w", err)
		}
		s.jtorn = false
	}
	s.sealed = append(s.sealed, s.cur)
	s.cur = nil
	return nil
}

// applyThrough makes sure every record in segments up to seq is in the
// session files, sealing the current segment if it is seq: what a read
// of a session whose last record is in seq needs.
func (s *Store) applyThrough(seq uint64) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.appliedSeq.Load() >= seq {
		return nil
	}
	if err := s.seal(); err != nil {
		return err
	}
	if !s.written.Load() {
		s.written.Store(true) // the next tick syncs and removes the segments
	}
	return s.applySealed()
}

// compact seals the current segment, applies the sealed ones to the
// session files, flushes the file system and removes the segments that
// were applied before the flush.
func (s *Store) compact() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.written.Store(false) // what is written from now on waits for the next
	err := s.seal()
	if err == nil {
		err = s.applySealed()
	}
	if err == nil && len(s.held) > 0 {
		s.retryBacklogs(time.Now())
		s.holding.Store(int32(len(s.held)))
	}
	// Acknowledged appends are flushed (in the journal) even if applying
	// failed; the segments stay until they are applied and flushed.
	if serr := s.syncAll(); serr != nil {
		s.written.Store(true)
		return errors.Join(err, fmt.Errorf("audiofile: sync %s: %w", s.dir, serr))
	}
	if err != nil {
		s.written.Store(true)
		return err
	}
	return s.removeApplied()
}

// removeApplied removes the sealed segments applied and flushed, oldest
// first (a crash midway leaves the newer ones, replayed at Open), or keeps
// one as the spare. The caller holds cmu.
func (s *Store) removeApplied() error {
	for len(s.sealed) > 0 && s.sealed[0].applied {
		g := s.sealed[0]
		if !s.keepSpare(g) {
			g.f.Close()
			if err := os.Remove(filepath.Join(s.dir, segName(g.seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("audiofile: remove journal segment: %w", err)
			}
		}
		s.wrote("", true)
		s.sealed[0] = nil
		s.sealed = s.sealed[1:]
	}
	return nil
}

// keepSpare makes g, applied and flushed, the spare if there is none and
// g was written by this Store and is not outsized.
func (s *Store) keepSpare(g *segment) bool {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	if s.spare != nil || s.jclosed || !g.writable || g.size > 2*segLimit {
		return false
	}
	if os.Rename(filepath.Join(s.dir, segName(g.seq)), filepath.Join(s.dir, spareName)) != nil {
		return false
	}
	s.spare = g.f
	return true
}

// applySealed applies every sealed segment not yet applied, in one pass:
// each session's records are listed, and then its runs of records written
// to its file. The caller holds cmu.
func (s *Store) applySealed() error {
	var todo []*segment
	for _, g := range s.sealed {
		if !g.applied {
			todo = append(todo, g)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	x := &s.ix
	x.reset()
	for _, g := range todo {
		for i := range g.recs {
			x.add(g, &g.recs[i])
		}
		if len(g.recs) > 0 {
			g.data, _ = mapSegment(g.f, g.size) // nil: read with ReadAt
		}
	}
	err := s.applyIndex(x)
	for _, g := range todo {
		if g.data != nil {
			if uerr := unmapSegment(g.data); uerr != nil {
				s.log.Warn("unmap audio journal segment", "segment", segName(g.seq), "err", uerr)
			}
			g.data = nil
		}
	}
	if err != nil {
		return err
	}
	for _, g := range todo {
		g.applied = true
		if cap(g.recs) <= maxKeptRecs { // for the next segment
			clear(g.recs)
			s.jmu.Lock()
			if s.spareRecs == nil {
				s.spareRecs = g.recs[:0]
			}
			s.jmu.Unlock()
		}
		g.recs = nil
	}
	s.appliedSeq.Store(todo[len(todo)-1].seq)
	return nil
}

// index lists the records of the segments being applied, by session, in
// journal order. It is kept between passes for its slices.
type index struct {
	recs     []rec
	sessions []sessionRecs
	byID     map[string]int32
}

// rec is an audio record being applied: where its data is, and where it
// goes.
type rec struct {
	seg     *segment
	pos     int64 // of the data in the segment
	off     int64 // in the session's audio
	created int64 // of the file it belongs to
	n       int32
	next    int32 // the session's next record, -1 at the end
}

type sessionRecs struct {
	id          string
	first, last int32 // records, -1 for none
	deleted     bool  // a tombstone was read: its file is gone
}

func (x *index) reset() {
	x.recs = x.recs[:0]
	clear(x.sessions)
	x.sessions = x.sessions[:0]
	if x.byID == nil {
		x.byID = map[string]int32{}
	}
	clear(x.byID)
}

// add lists a record of g. A tombstone drops the session's records
// before it.
func (x *index) add(g *segment, r *jrec) {
	i, ok := x.byID[r.id]
	if !ok {
		i = int32(len(x.sessions))
		x.sessions = append(x.sessions, sessionRecs{id: r.id, first: -1, last: -1})
		x.byID[r.id] = i
	}
	sr := &x.sessions[i]
	if r.kind == kindDelete {
		sr.first, sr.last, sr.deleted = -1, -1, true
		return
	}
	if r.n == 0 {
		return
	}
	j := int32(len(x.recs))
	x.recs = append(x.recs, rec{seg: g, pos: r.pos, off: r.off, created: r.created, n: r.n, next: -1})
	if sr.last >= 0 {
		x.recs[sr.last].next = j
	} else {
		sr.first = j
	}
	sr.last = j
}

// errTorn is a record that is cut short or fails its checksum: the end of
// what was written.
var errTorn = errors.New("torn or damaged record")

// scanSegment reads the records of g, a segment a crash left, into
// g.recs, up to the first one cut short or damaged (a write the crash
// interrupted, never acknowledged, or one after it, which no acknowledged
// append can follow): g ends there. It returns the bytes left out.
func (s *Store) scanSegment(g *segment) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(g.f, 0, g.size), readBuf)
	if _, err := r.Discard(len(segMagic)); err != nil {
		return 0, fmt.Errorf("audiofile: read journal %s: %w", segName(g.seq), err)
	}
	var idb [MaxIDLen]byte
	for pos := int64(len(segMagic)); pos < g.size; {
		n, err := readRecord(r, g, seqCRC(g.seq), pos, idb[:])
		if errors.Is(err, errTorn) {
			dropped := g.size - pos
			g.size = pos
			return dropped, nil
		}
		if err != nil {
			return 0, fmt.Errorf("audiofile: read journal %s at byte %d: %w", segName(g.seq), pos, err)
		}
		pos += n
	}
	return 0, nil
}

// readRecord reads the record at pos from r into g.recs and returns its
// length.
func readRecord(r *bufio.Reader, g *segment, seed uint32, pos int64, idb []byte) (int64, error) {
	h, err := r.Peek(recHeader)
	if err != nil {
		return 0, torn(err)
	}
	sum := binary.LittleEndian.Uint32(h)
	n := int(binary.LittleEndian.Uint32(h[4:]))
	off := int64(binary.LittleEndian.Uint64(h[8:]))
	created := int64(binary.LittleEndian.Uint64(h[16:]))
	kind, idLen := h[24], int(h[25])
	if (kind != kindAudio && kind != kindDelete) || idLen == 0 || idLen > MaxIDLen || n > maxRecordData || off < 0 || (kind == kindDelete && n != 0) {
		return 0, errTorn
	}
	c := crc32.Update(seed, castagnoli, h[4:recHeader])
	r.Discard(recHeader)
	id, err := r.Peek(idLen)
	if err != nil {
		return 0, torn(err)
	}
	c = crc32.Update(c, castagnoli, id)
	id = idb[:copy(idb, id)]
	r.Discard(idLen)
	for left := n; left > 0; {
		p, err := r.Peek(min(left, r.Size()))
		if len(p) == 0 {
			return 0, torn(err)
		}
		c = crc32.Update(c, castagnoli, p)
		r.Discard(len(p))
		left -= len(p)
	}
	if c != sum || checkID(string(id)) != nil {
		return 0, errTorn
	}
	g.recs = append(g.recs, jrec{id: string(id), pos: pos + recHeader + int64(idLen), off: off, created: created, n: int32(n), kind: kind})
	return recHeader + int64(idLen) + int64(n), nil
}

func torn(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTorn
	}
	return err
}

// applyIndex writes each session's records to its file: a run of
// records at consecutive offsets is copied from the journal (the page
// cache, as a rule, mapped where the platform allows) into one buffer and
// written with one write. Records
// of a file that is gone, or was made again since (another creation
// time), are skipped; so are records beyond the end of the file (after a
// machine crash lost the audio before them), with a warning. Every
// session is tried; the errors are returned together.
func (s *Store) applyIndex(x *index) error {
	var errs []error
	for i := range x.sessions {
		sr := &x.sessions[i]
		if sr.deleted {
			s.dropCached(sr.id)
			s.dropBacklog(sr.id)
		}
		if b := s.held[sr.id]; b != nil {
			// After what its backlog holds.
			if err := s.addToBacklog(b, x, sr); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		err := s.applySession(x, sr)
		if err != nil && !storeWide(err) {
			err = s.hold(x, sr, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	s.holding.Store(int32(len(s.held)))
	return errors.Join(errs...)
}

func (s *Store) applySession(x *index, sr *sessionRecs) error {
	if s.gbuf == nil {
		s.gbuf = make([]byte, maxRecordData)
	}
	var (
		cf       *cached
		created  int64
		resolved bool // cf is the file of records made at created
		skip     bool // records of this creation time have nowhere to go
	)
	for r := sr.first; r >= 0; {
		rc := &x.recs[r]
		if !resolved || rc.created != created {
			var err error
			if cf, err = s.fileFor(sr.id, rc.created); err != nil {
				return err
			}
			created, resolved, skip = rc.created, true, cf == nil
		}
		if skip {
			r = rc.next
			continue
		}
		// Gather the run.
		start, buf := rc.off, s.gbuf[:0]
		for r >= 0 {
			rc = &x.recs[r]
			if rc.created != created || rc.off != start+int64(len(buf)) || len(buf)+int(rc.n) > cap(buf) {
				break
			}
			m := len(buf)
			buf = buf[:m+int(rc.n)]
			if d := rc.seg.data; d != nil {
				copy(buf[m:], d[rc.pos:rc.pos+int64(rc.n)])
			} else if _, err := rc.seg.f.ReadAt(buf[m:], rc.pos); err != nil {
				return fmt.Errorf("audiofile: read journal %s: %w", segName(rc.seg.seq), err)
			}
			r = rc.next
		}
		if start > cf.size {
			s.log.Warn("audio journal records beyond the end of the session's file left out", "session_id", sr.id, "offset", start, "size", cf.size)
			skip = true
			continue
		}
		if _, err := cf.f.WriteAt(buf, headerSize+start); err != nil {
			s.dropCached(sr.id) // its size is no longer known
			return fmt.Errorf("audiofile: apply journal to session %s at %d: %w", sr.id, start, err)
		}
		cf.size = max(cf.size, start+int64(len(buf)))
		cf.used = s.now()
		s.wrote(sr.id+ext, false)
	}
	return nil
}

// cached is a session's file held open by the compactor (under cmu):
// Store.cache, closed when idle.
type cached struct {
	f       *os.File
	created int64
	size    int64 // bytes of audio in the file
	used    int64 // Unix ns
}

// fileFor returns the open file of session id if it was made at created,
// or nil if it is gone or was made again since. The caller holds cmu.
func (s *Store) fileFor(id string, created int64) (*cached, error) {
	s.fmu.Lock()
	cf := s.cache[id]
	s.fmu.Unlock()
	if cf != nil && cf.created == created {
		return cf, nil
	}
	if cf != nil {
		s.dropCached(id)
	}
	f, fc, size, err := openFile(s.path(id), os.O_RDWR)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, errBadHeader):
		s.log.Warn("audio journal records for a file that is not a session's left out", "session_id", id, "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	cf = &cached{f: f, created: fc, size: size, used: s.now()}
	s.fmu.Lock()
	if old := s.cache[id]; old != nil { // made by create meanwhile
		f.Close()
		cf = old
	} else {
		s.cache[id] = cf
	}
	s.fmu.Unlock()
	if cf.created != created {
		return nil, nil
	}
	return cf, nil
}

// cachedFile is the compactor's open file of session id, or nil.
func (s *Store) cachedFile(id string) *cached {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.cache[id]
}

// dropCached closes the compactor's file of session id, if open. The
// caller holds cmu.
func (s *Store) dropCached(id string) {
	s.fmu.Lock()
	cf := s.cache[id]
	delete(s.cache, id)
	s.fmu.Unlock()
	if cf != nil {
		cf.f.Close()
	}
}

// replay applies the segments a crash left in the directory, in order,
// flushes and removes them, and returns the number to start the journal
// at.
func (s *Store) replay(ents []fs.DirEntry) (uint64, error) {
	var next uint64 = 1
	for _, e := range ents {
		seq, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		next = max(next, seq+1)
		f, err := os.OpenFile(filepath.Join(s.dir, e.Name()), os.O_RDONLY, 0)
		if err != nil {
			return 0, err
		}
		g := &segment{seq: seq, f: f}
		s.sealed = append(s.sealed, g)
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		g.size = st.Size()
		var m [len(segMagic)]byte
		if _, err := f.ReadAt(m[:], 0); err != nil || string(m[:]) != segMagic {
			if g.size > int64(len(segMagic)) || (err == nil && g.size == int64(len(segMagic))) {
				return 0, fmt.Errorf("%s: not a journal segment (bad header)", e.Name())
			}
			g.size = int64(len(segMagic)) // made, its magic not yet written: empty
			g.applied = true
		}
	}
	if len(s.sealed) == 0 {
		return next, nil
	}
	slices.SortFunc(s.sealed, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })
	var records int
	var dropped int64
	for _, g := range s.sealed {
		if !g.applied {
			n, err := s.scanSegment(g)
			if err != nil {
				return 0, err
			}
			records += len(g.recs)
			dropped += n
		}
	}
	if err := s.applySealed(); err != nil {
		return 0, err
	}
	// Past the end: a write the crash cut short, or what the file's
	// earlier use as a segment left.
	s.log.Info("audio journal replayed", "dir", s.dir, "segments", len(s.sealed), "records", records, "sessions", len(s.ix.sessions), "bytes_past_end", dropped)
	if err := s.syncAll(); err != nil {
		return 0, err
	}
	if err := s.removeApplied(); err != nil {
		return 0, err
	}
	s.ix.reset()
	return next, nil
}
