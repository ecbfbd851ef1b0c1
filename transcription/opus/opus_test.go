//go:build cgo && !noopus

package opus_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/scribegate/scribegate/transcription/opus"
	"github.com/scribegate/scribegate/transcription/opus/opustest"
)

// speechish is 3 s of 16 kHz test audio: two tones and a pause, the kind
// of signal whose shape survives a speech codec.
func speechish() []int16 {
	var s []int16
	for i := range 48000 {
		t := float64(i) / 16000
		var v float64
		switch {
		case t < 1.2:
			v = 6000 * math.Sin(2*math.Pi*300*t)
		case t < 1.8:
		default:
			v = 5000 * math.Sin(2*math.Pi*700*t)
		}
		s = append(s, int16(v))
	}
	return s
}

// decodeIn decodes file pushed in pieces of chunk bytes.
func decodeIn(t *testing.T, container string, rate int, file []byte, chunk int) []int16 {
	t.Helper()
	d, err := opus.NewDecoder(container, rate)
	if err != nil {
		t.Fatal(err)
	}
	var pcm []byte
	for len(file) > 0 {
		n := min(chunk, len(file))
		if pcm, err = d.Decode(pcm, file[:n]); err != nil {
			t.Fatal(err)
		}
		file = file[n:]
	}
	out := make([]int16, len(pcm)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(pcm[2*i:]))
	}
	return out
}

// similarity is the best normalised correlation of got against want
// within a few milliseconds of lag: a lossy codec keeps a signal's shape.
func similarity(got, want []int16) float64 {
	best := -1.0
	for lag := -64; lag <= 64; lag++ {
		var gw, gg, ww float64
		for i := range want {
			j := i + lag
			if j < 0 || j >= len(got) {
				continue
			}
			g, w := float64(got[j]), float64(want[i])
			gw, gg, ww = gw+g*w, gg+g*g, ww+w*w
		}
		if gg > 0 && ww > 0 {
			best = max(best, gw/math.Sqrt(gg*ww))
		}
	}
	return best
}

func TestDecode(t *testing.T) {
	want := speechish()
	files := map[string][]byte{
		opus.Ogg:  opustest.Ogg(t, want, 16000),
		opus.WebM: opustest.WebM(t, want, 16000),
	}
	for container, file := range files {
		t.Run(container, func(t *testing.T) {
			whole := decodeIn(t, container, 16000, file, len(file))
			// The length is the input's, give or take the last packet's padding.
			if d := len(whole) - len(want); d < -320 || d > 320 {
				t.Errorf("%d samples decoded, want %d", len(whole), len(want))
			}
			if s := similarity(whole, want); s < 0.9 {
				t.Errorf("decoded audio correlates %.3f with the input", s)
			}
			// Pushed in pieces split anywhere, the audio is the same.
			for _, chunk := range []int{1, 7, 333, 4096} {
				if got := decodeIn(t, container, 16000, file, chunk); !slicesEqual(got, whole) {
					t.Errorf("in %d-byte pieces: %d samples differ from the whole file's %d", chunk, len(got), len(whole))
				}
			}
			// At 48 kHz: three times the samples.
			if got := decodeIn(t, container, 48000, file, 4096); math.Abs(float64(len(got))/float64(len(whole))-3) > 0.01 {
				t.Errorf("%d samples at 48 kHz for %d at 16 kHz", len(got), len(whole))
			}
			// A recorder that starts again sends a new stream: both decode.
			two := decodeIn(t, container, 16000, append(append([]byte{}, file...), file...), 1000)
			if len(two) != 2*len(whole) || !slicesEqual(two[len(whole):], whole) {
				t.Errorf("two streams one after the other: %d samples, want %d", len(two), 2*len(whole))
			}
			// NewReader decodes a file as it is read.
			r, err := opus.NewReader(container, 16000, bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil || len(b) != 2*len(whole) {
				t.Errorf("NewReader: %d bytes, %v; want %d", len(b), err, 2*len(whole))
			}
		})
	}
}

func slicesEqual(a, b []int16) bool { return len(a) == len(b) && bytes.Equal(pcmBytes(a), pcmBytes(b)) }

func pcmBytes(s []int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// oggPage builds an Ogg page holding one packet, with a correct checksum.
func oggPage(flags byte, serial uint32, packet []byte) []byte {
	p := []byte("OggS\x00")
	p = append(p, flags)
	p = append(p, make([]byte, 8)...) // granule position
	p = binary.LittleEndian.AppendUint32(p, serial)
	p = append(p, make([]byte, 8)...) // sequence number, checksum
	var lacing []byte
	for n := len(packet); ; n -= 255 {
		lacing = append(lacing, byte(min(n, 255)))
		if n < 255 {
			break
		}
	}
	p = append(p, byte(len(lacing)))
	p = append(p, lacing...)
	p = append(p, packet...)
	binary.LittleEndian.PutUint32(p[22:], crc(p))
	return p
}

// crc is Ogg's page checksum, written out bit by bit (RFC 3533 6).
func crc(page []byte) uint32 {
	var c uint32
	for _, b := range page {
		c ^= uint32(b) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func TestDecodeRefuses(t *testing.T) {
	ogg := opustest.Ogg(t, speechish(), 16000)
	corrupt := append([]byte{}, ogg...)
	corrupt[len(corrupt)/2] ^= 0x55
	webm := opustest.WebM(t, speechish(), 16000)
	vorbisWebM := bytes.Replace(webm, []byte("A_OPUS"), []byte("A_VORB"), 1)
	for _, tc := range []struct {
		name, container string
		file            []byte
		want            error
	}{
		{"ogg vorbis", opus.Ogg, append(oggPage(0x02, 7, []byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00")),
			oggPage(0, 7, []byte("\x03vorbis"))...), opus.ErrNotOpus},
		{"ogg six channels", opus.Ogg, oggPage(0x02, 7, []byte("OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05")), opus.ErrNotOpus},
		{"ogg checksum", opus.Ogg, corrupt, opus.ErrMalformed},
		{"ogg garbage", opus.Ogg, []byte("OggX" + string(make([]byte, 40))), opus.ErrMalformed},
		{"webm vorbis", opus.WebM, vorbisWebM, opus.ErrNotOpus},
		{"webm garbage", opus.WebM, []byte{0x00, 0x01, 0x02, 0x03}, opus.ErrMalformed},
		{"webm no header", opus.WebM, webm[40:], opus.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := opus.NewDecoder(tc.container, 16000)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Decode(nil, tc.file)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if _, again := d.Decode(nil, []byte{1, 2, 3}); !errors.Is(again, tc.want) {
				t.Errorf("after the error: %v", again)
			}
		})
	}
	if _, err := opus.NewDecoder(opus.Ogg, 44100); err == nil {
		t.Error("a decoder at 44.1 kHz, which Opus does not decode to")
	}
}
