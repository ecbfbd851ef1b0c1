//go:build cgo && !noopus

// Package opustest makes Ogg Opus and WebM Opus files from synthetic test
// audio with real encoders, for tests of code that decodes them: Ogg with
// opusenc, the reference encoder's command-line tool (Debian's opus-tools,
// installed by `make deps`); WebM with libopus's encoder muxed by ebml-go's
// WebM writer, which writes the Segment and Clusters with unknown sizes
// as a browser's MediaRecorder does.
package opustest

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/at-wat/ebml-go/webm"
	libopus "gopkg.in/hraban/opus.v2"

	"github.com/scribegate/scribegate/transcription"
)

// Ogg encodes mono samples at rate as an Ogg Opus file with opusenc.
func Ogg(t testing.TB, samples []int16, rate int) []byte {
	t.Helper()
	bin, err := exec.LookPath("opusenc")
	if err != nil {
		t.Fatal("opusenc not found: run `make deps` (it installs Debian's opus-tools)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.opus")
	if err := os.WriteFile(in, transcription.EncodeWAV(samples, rate), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "--quiet", "--bitrate", "64", in, out).CombinedOutput(); err != nil {
		t.Fatalf("opusenc: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// preSkip is libopus's encoder delay at 48 kHz, which a muxer writes in
// the OpusHead for the decoder to drop.
const preSkip = 312

// WebM encodes mono samples at rate (8, 12, 16, 24 or 48 kHz) as a WebM
// file of 20 ms Opus packets.
func WebM(t testing.TB, samples []int16, rate int) []byte {
	t.Helper()
	enc, err := libopus.NewEncoder(rate, 1, libopus.AppAudio)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(64000); err != nil {
		t.Fatal(err)
	}
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, preSkip)
	head = binary.LittleEndian.AppendUint32(head, uint32(rate))
	head = append(head, 0, 0, 0) // output gain 0, mapping family 0
	var out closingBuffer
	ws, err := webm.NewSimpleBlockWriter(&out, []webm.TrackEntry{{
		Name: "Audio", TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2,
		CodecPrivate: head, Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	frame := rate / 50
	for i := 0; i < len(samples); i += frame {
		pcm := make([]int16, frame) // the last frame padded with silence
		copy(pcm, samples[i:min(i+frame, len(samples))])
		packet := make([]byte, 4000) // the writer's goroutine keeps it
		n, err := enc.Encode(pcm, packet)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ws[0].Write(true, int64(i*1000/rate), packet[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws[0].Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type closingBuffer struct{ bytes.Buffer }

func (*closingBuffer) Close() error { return nil }
