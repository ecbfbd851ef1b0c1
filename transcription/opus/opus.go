// Package opus decodes Opus audio in the two containers recorders send it
// in, Ogg (RFC 7845: opusenc, Firefox's MediaRecorder, most dictation
// apps) and WebM (Chrome's and Edge's MediaRecorder), into the 16-bit mono
// PCM the transcription pipeline takes.
//
// A Decoder is pushed the container's bytes in pieces as they arrive, of
// any size and split anywhere, and gives back the audio of the packets
// each piece completed, so a socket's frames are decoded as they come and
// a file is decoded as it is read (NewReader). The containers are parsed
// here (the framing is small and fixed by its specifications); the audio
// itself is decoded by libopus, the reference decoder, through
// gopkg.in/hraban/opus.v2, and WebM blocks are read by
// github.com/at-wat/ebml-go.
//
// libopus is a C library: the package needs cgo and Debian's libopus-dev
// and libopusfile-dev (`make deps` installs them). Built without cgo, or
// with the build tag noopus, it has no decoder: NewDecoder returns
// ErrUnavailable and the gateway refuses Opus audio with a clear error, as
// it refuses other compressed audio.
package opus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Containers NewDecoder takes.
const (
	Ogg  = "ogg"
	WebM = "webm"
)

// Errors of a Decoder. Those of Decode wrap one of them, so a caller can
// tell audio it cannot take from audio that is broken.
var (
	// ErrUnavailable: the package was built without libopus (no cgo, or
	// the noopus build tag).
	ErrUnavailable = errors.New("opus: built without libopus; Opus audio cannot be decoded")
	// ErrNotOpus: the container holds audio in another codec (Vorbis,
	// AAC…), or more channels than a stereo stream.
	ErrNotOpus = errors.New("opus: the container holds no Opus audio the gateway decodes")
	// ErrMalformed: the bytes are not a well-formed container, or a packet
	// does not decode.
	ErrMalformed = errors.New("opus: malformed stream")
)

// maxPacket bounds one Opus packet, or one WebM element read whole: a
// packet is at most 120 ms (RFC 6716 3.2.5), some 1.3 kB at the highest
// bitrate; anything much larger is not audio a recorder sent.
const maxPacket = 1 << 20

// Decoder decodes one Ogg Opus or WebM Opus stream pushed to it in pieces.
// A stream that starts again (a new Ogg stream, a new WebM header: a
// recorder restarted after a reconnect) is decoded as a new one. A Decoder
// is not safe for concurrent use.
type Decoder struct {
	container string
	rate      int
	demux     interface {
		// push takes more bytes and calls d.packet for each packet of
		// audio they complete.
		push(b []byte) error
	}
	codec    packetDecoder
	channels int
	skip     int     // samples still to drop at the start (pre-skip)
	gain     float64 // linear; 1 when the header gives none
	pcm      []int16
	out      []byte
	err      error
}

// NewDecoder returns a Decoder for container (Ogg or WebM) whose audio
// comes out at rate, one of Opus's rates (8, 12, 16, 24 or 48 kHz): the
// codec resamples for free as it decodes.
func NewDecoder(container string, rate int) (*Decoder, error) {
	if !available {
		return nil, ErrUnavailable
	}
	switch rate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return nil, fmt.Errorf("opus: %d Hz is not a rate Opus decodes to (8000, 12000, 16000, 24000 or 48000)", rate)
	}
	d := &Decoder{container: container, rate: rate, pcm: make([]int16, 120*rate/1000*2)}
	switch container {
	case Ogg:
		d.demux = &oggDemuxer{d: d}
	case WebM:
		d.demux = &webmDemuxer{d: d}
	default:
		return nil, fmt.Errorf("opus: unknown container %q", container)
	}
	return d, nil
}

// Container is the container the Decoder reads, Ogg or WebM.
func (d *Decoder) Container() string { return d.container }

// SampleRate is the rate of the audio Decode gives.
func (d *Decoder) SampleRate() int { return d.rate }

// Decode takes the next bytes of the stream and appends to dst the audio
// of the packets they completed, as little-endian 16-bit mono samples
// (stereo is mixed down). A packet split across calls comes out with the
// call that completes it. After an error every call returns it again.
func (d *Decoder) Decode(dst, b []byte) ([]byte, error) {
	if d.err != nil {
		return dst, d.err
	}
	d.out = dst
	d.err = d.demux.push(b)
	out := d.out
	d.out = nil
	return out, d.err
}

// start begins a new logical stream from its OpusHead (RFC 7845 5.1).
func (d *Decoder) start(head []byte) error {
	if len(head) < 19 || string(head[:8]) != "OpusHead" {
		return fmt.Errorf("%w: the stream's first packet is not an OpusHead", ErrNotOpus)
	}
	if v := head[8]; v>>4 != 0 {
		return fmt.Errorf("%w: OpusHead version %d", ErrMalformed, v)
	}
	channels, family := int(head[9]), head[18]
	if family != 0 || channels < 1 || channels > 2 {
		return fmt.Errorf("%w: %d channels (mapping family %d); record mono or stereo", ErrNotOpus, channels, family)
	}
	codec, err := newPacketDecoder(d.rate, channels)
	if err != nil {
		return err
	}
	d.codec, d.channels = codec, channels
	// Pre-skip is counted at 48 kHz, whatever the rate decoded to.
	d.skip = int(binary.LittleEndian.Uint16(head[10:12])) * d.rate / 48000
	d.gain = math.Pow(10, float64(int16(binary.LittleEndian.Uint16(head[16:18])))/(20*256))
	return nil
}

// packet decodes one Opus packet and appends its audio to d.out.
func (d *Decoder) packet(p []byte) error {
	if d.codec == nil {
		return fmt.Errorf("%w: audio before the OpusHead", ErrMalformed)
	}
	n, err := d.codec.decode(p, d.pcm)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s := d.pcm[:n*d.channels]
	drop := min(d.skip, n)
	d.skip -= drop
	for i := drop; i < n; i++ {
		v := float64(s[i*d.channels])
		if d.channels == 2 {
			v = (v + float64(s[i*2+1])) / 2
		}
		v = math.Round(v * d.gain)
		d.out = binary.LittleEndian.AppendUint16(d.out, uint16(int16(max(-32768, min(32767, v)))))
	}
	return nil
}

// packetDecoder decodes Opus packets: libopus where it is built in.
type packetDecoder interface {
	// decode decodes packet into pcm (interleaved) and returns the samples
	// per channel.
	decode(packet []byte, pcm []int16) (int, error)
}
