package opus

import (
	"bytes"
	"fmt"

	"github.com/at-wat/ebml-go"
)

// WebM element IDs (Matroska's, as written, marker bits included) that
// the demuxer looks at; every other element is skipped unread.
const (
	idEBML         = 0x1A45DFA3
	idSegment      = 0x18538067
	idSeekHead     = 0x114D9B74
	idInfo         = 0x1549A966
	idTracks       = 0x1654AE6B
	idCluster      = 0x1F43B675
	idCues         = 0x1C53BB6B
	idChapters     = 0x1043A770
	idTags         = 0x1254C367
	idAttachments  = 0x1941A469
	idTrackEntry   = 0xAE
	idTrackNumber  = 0xD7
	idCodecID      = 0x86
	idCodecPrivate = 0x63A2
	idSimpleBlock  = 0xA3
	idBlockGroup   = 0xA0
	idBlock        = 0xA1
)

// webmDemuxer reads a WebM stream's elements as they come (EBML, RFC
// 8794; Matroska's element IDs) and hands the Opus track's packets to its
// Decoder. MediaRecorder writes the Segment and its Clusters with unknown
// sizes, so elements end either at their size or, unknown, where an
// element of their parent's level begins. Blocks are parsed (lacing
// included) by ebml-go.
type webmDemuxer struct {
	d     *Decoder
	buf   []byte
	pos   int64 // stream offset of buf[0]
	skip  int64 // bytes of a skipped element still to come
	open  []webmOpen
	track webmTrack // the TrackEntry being read
	audio uint64    // the Opus track's number, once the Tracks are read
	other string    // the codec of an audio track that is not Opus
}

type webmOpen struct {
	id  uint32
	end int64 // -1: unknown size
}

type webmTrack struct {
	number  uint64
	codec   string
	private []byte
}

func (w *webmDemuxer) push(b []byte) error {
	w.buf = append(w.buf, b...)
	for {
		if w.skip > 0 {
			n := min(w.skip, int64(len(w.buf)))
			w.consume(int(n))
			w.skip -= n
			if w.skip > 0 {
				return nil
			}
		}
		for len(w.open) > 0 && w.open[len(w.open)-1].end >= 0 && w.pos >= w.open[len(w.open)-1].end {
			if err := w.close(); err != nil {
				return err
			}
		}
		id, idLen, ok := ebmlID(w.buf)
		if !ok {
			return nil
		}
		if idLen == 0 {
			return fmt.Errorf("%w: not a WebM element at byte %d", ErrMalformed, w.pos)
		}
		if len(w.buf) > idLen && w.buf[idLen] == 0 {
			return fmt.Errorf("%w: a WebM element size at byte %d", ErrMalformed, w.pos+int64(idLen))
		}
		size, sizeLen, known := ebmlSize(w.buf[idLen:])
		if sizeLen == 0 {
			return nil
		}
		hdr := idLen + sizeLen
		if len(w.open) == 0 && id != idEBML && id != idSegment {
			return fmt.Errorf("%w: the WebM stream does not start with its header", ErrMalformed)
		}
		switch id {
		case idEBML:
			// The header of a stream: a recorder restarted sends a new one.
			for len(w.open) > 0 {
				if err := w.close(); err != nil {
					return err
				}
			}
			w.audio, w.other = 0, ""
		case idSeekHead, idInfo, idTracks, idCluster, idCues, idChapters, idTags, idAttachments:
			// A child of the Segment ends whatever unknown-size element
			// (a Cluster) was open in it.
			for len(w.open) > 0 && w.open[len(w.open)-1].id != idSegment {
				if err := w.close(); err != nil {
					return err
				}
			}
			if id == idCluster && w.audio == 0 {
				return w.noOpus()
			}
		}
		switch id {
		case idSegment, idTracks, idTrackEntry, idCluster, idBlockGroup:
			end := int64(-1)
			if known {
				end = w.pos + int64(hdr) + size
			}
			if id == idTrackEntry {
				w.track = webmTrack{}
			}
			w.consume(hdr)
			w.open = append(w.open, webmOpen{id: id, end: end})
		case idTrackNumber, idCodecID, idCodecPrivate, idSimpleBlock, idBlock:
			if !known || size > maxPacket {
				return fmt.Errorf("%w: a WebM element of %d bytes", ErrMalformed, size)
			}
			if int64(len(w.buf)) < int64(hdr)+size {
				return nil // read whole: wait for the rest
			}
			if err := w.leaf(id, w.buf[hdr:hdr+int(size)]); err != nil {
				return err
			}
			w.consume(hdr + int(size))
		default:
			if !known {
				return fmt.Errorf("%w: a WebM element 0x%X of unknown size", ErrMalformed, id)
			}
			w.consume(hdr)
			w.skip = size
		}
	}
}

// consume drops n bytes read.
func (w *webmDemuxer) consume(n int) {
	w.buf = w.buf[n:]
	w.pos += int64(n)
}

// close ends the innermost open element.
func (w *webmDemuxer) close() error {
	e := w.open[len(w.open)-1]
	w.open = w.open[:len(w.open)-1]
	switch e.id {
	case idTrackEntry:
		t := w.track
		switch {
		case t.codec == "A_OPUS" && w.audio == 0:
			if err := w.d.start(t.private); err != nil {
				return err
			}
			w.audio = t.number
		case len(t.codec) > 2 && t.codec[:2] == "A_" && w.other == "":
			w.other = t.codec
		}
	case idTracks:
		if w.audio == 0 {
			return w.noOpus()
		}
	}
	return nil
}

func (w *webmDemuxer) noOpus() error {
	if w.other != "" {
		return fmt.Errorf("%w: the WebM's audio is %s, not Opus", ErrNotOpus, w.other)
	}
	return fmt.Errorf("%w: the WebM has no Opus audio track", ErrNotOpus)
}

// leaf takes an element read whole.
func (w *webmDemuxer) leaf(id uint32, body []byte) error {
	switch id {
	case idTrackNumber:
		var n uint64
		for _, c := range body {
			n = n<<8 | uint64(c)
		}
		w.track.number = n
	case idCodecID:
		w.track.codec = string(bytes.TrimRight(body, "\x00"))
	case idCodecPrivate:
		w.track.private = append([]byte(nil), body...)
	case idSimpleBlock, idBlock:
		if w.audio == 0 {
			return w.noOpus()
		}
		blk, err := ebml.UnmarshalBlock(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			return fmt.Errorf("%w: a WebM block: %w", ErrMalformed, err)
		}
		if blk.TrackNumber != w.audio {
			return nil
		}
		for _, p := range blk.Data {
			if err := w.d.packet(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// ebmlID reads an element ID (1 to 4 bytes, marker bits kept). ok is
// false when b is too short to tell; n is 0 for an invalid first byte.
func ebmlID(b []byte) (id uint32, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = vintLen(b[0])
	if n == 0 || n > 4 {
		return 0, 0, true
	}
	if len(b) < n {
		return 0, 0, false
	}
	for _, c := range b[:n] {
		id = id<<8 | uint32(c)
	}
	return id, n, true
}

// ebmlSize reads an element's data size (1 to 8 bytes); known is false
// for the reserved all-ones value, an unknown size. n is 0 when b is too
// short (or starts with a zero byte, which is no size).
func ebmlSize(b []byte) (size int64, n int, known bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = vintLen(b[0])
	if n == 0 || len(b) < n {
		return 0, 0, false
	}
	v := uint64(b[0]) & (0xFF >> n)
	allOnes := v == 0xFF>>n
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	if allOnes {
		return 0, n, false
	}
	return int64(v), n, true
}

// vintLen is the length of the variable-size integer starting with c: one
// more than its leading zero bits; 0 when c is 0.
func vintLen(c byte) int {
	for i := range 8 {
		if c&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}
