package transcription

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/segment-golden from what the segmenter does now")

// goldenCase is one run of the segmenter whose events are pinned in
// testdata/segment-golden/<name>.txt: the speed work on the segmenter must not move a boundary
// or change a sample.
type goldenCase struct {
	name  string
	audio func(testing.TB) []int16
	cfg   SegmenterConfig
}

// consultation returns a testdata consultation (16 kHz mono) as samples.
func consultation(t testing.TB, name string) []int16 {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "consultations", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readMono16k(t, f)
}

// noisy lays seeded background noise over s, swelling and fading over a
// few seconds, so the adaptive floor and both margins are exercised (the
// consultations' pauses are digital silence).
func noisy(s []int16, sigma float64) []int16 {
	rng := rand.New(rand.NewPCG(7, 8))
	out := make([]int16, len(s))
	for i, v := range s {
		level := sigma * (1 + 0.8*float64((i/16000)%7)/6) // 1x..1.8x, in 1 s steps
		out[i] = int16(max(-32768, min(32767, float64(v)+rng.NormFloat64()*level)))
	}
	return out
}

func goldenCases() []goldenCase {
	knee := func(t testing.TB) []int16 { return consultation(t, "knee-pain-short.wav") }
	chf := func(t testing.TB) []int16 { return consultation(t, "chf-followup.wav") }
	return []goldenCase{
		{"knee", knee, SegmenterConfig{}},
		{"chf", chf, SegmenterConfig{}},
		{"speech", func(t testing.TB) []int16 { return speechWAV(t) }, SegmenterConfig{}},
		{"knee-noisy", func(t testing.TB) []int16 { return noisy(knee(t), 40) }, SegmenterConfig{}},
		{"chf-loud-noise", func(t testing.TB) []int16 { return noisy(chf(t), 400) }, SegmenterConfig{}},
		{"chf-cut", chf, SegmenterConfig{MaxUtterance: 4 * time.Second, Endpointing: 1500 * time.Millisecond}},
		{"knee-noisy-cut", func(t testing.TB) []int16 { return noisy(knee(t), 40) },
			SegmenterConfig{MaxUtterance: 3 * time.Second, Endpointing: 300 * time.Millisecond, MinSpeech: 50 * time.Millisecond}},
	}
}

// describe writes events one a line: speech starts with their time, and
// utterances with their index, span, whether cut, and a hash of their
// samples, so that any change to what is sent shows.
func describe(ev []SegmentEvent) string {
	var b strings.Builder
	for _, e := range ev {
		switch e.Kind {
		case SegmentSpeechStarted:
			fmt.Fprintf(&b, "S %d\n", e.At.Milliseconds())
		case SegmentUtterance:
			u := e.Utterance
			fmt.Fprintf(&b, "U %d %d-%d cut=%v %016x\n", u.Index, u.Start.Milliseconds(),
				(u.Start + u.Duration()).Milliseconds(), e.Cut, samplesHash(u.Samples))
		}
	}
	return b.String()
}

func samplesHash(s []int16) uint64 {
	h := fnv.New64a()
	var b [2]byte
	for _, v := range s {
		binary.LittleEndian.PutUint16(b[:], uint16(v))
		h.Write(b[:])
	}
	return h.Sum64()
}

// TestSegmenterGolden pins the segmenter's utterances on the testdata
// consultations (clean, under noise, and cut at a short MaxUtterance) to
// what it produced before its per-frame work was made cheaper. The audio
// is written in 100 ms frames, as the gateway gets it, and in odd sizes,
// as samples and as linear16 bytes.
func TestSegmenterGolden(t *testing.T) {
	got := map[string]string{}
	for _, c := range goldenCases() {
		s := c.audio(t)
		d := describe(segmentAll(c.cfg, s, 1600, true))
		got[c.name] = d
		if *updateGolden {
			continue
		}
		if want := golden(t, c.name); d != want {
			t.Errorf("%s: events differ from the golden:\n%s", c.name, lineDiff(want, d))
		}
		for _, chunk := range []int{1, 159, 999, 48000} {
			if chunk == 1 && len(s) > 700000 {
				continue // sample by sample is covered by the shorter files
			}
			if d2 := describe(segmentAll(c.cfg, s, chunk, true)); d2 != d {
				t.Errorf("%s in chunks of %d: events differ from 100 ms frames:\n%s", c.name, chunk, lineDiff(d, d2))
			}
		}
		// The same audio as linear16 bytes, decoded by the segmenter into
		// what it holds, in pieces that split samples.
		pcm := EncodeLinear16(s)
		for _, piece := range []int{1, 3199, 3200, 64001} {
			if piece == 1 && len(s) > 700000 {
				continue
			}
			seg := NewSegmenter(c.cfg)
			var dec Linear16Decoder
			var ev []SegmentEvent
			total := 0
			for off := 0; off < len(pcm); off += piece {
				var n int
				ev, n = seg.writeLinear16(ev, &dec, pcm[off:min(off+piece, len(pcm))])
				total += n
			}
			ev = seg.Flush(ev)
			if d2 := describe(ev); d2 != d {
				t.Errorf("%s as linear16 in %d-byte pieces: events differ from 100 ms frames:\n%s", c.name, piece, lineDiff(d, d2))
			}
			if total != len(s) || dec.Pending() || seg.Elapsed() != seg.dur(len(s)) {
				t.Errorf("%s as linear16 in %d-byte pieces: %d samples decoded (pending %v), elapsed %v; want %d, %v",
					c.name, piece, total, dec.Pending(), seg.Elapsed(), len(s), seg.dur(len(s)))
			}
		}
	}
	if *updateGolden {
		writeGolden(t, got)
	}
}

// TestStreamGolden checks the same through a Stream fed linear16 bytes in
// 100 ms frames (and in odd-sized ones, splitting samples): the engine gets
// exactly the golden utterances, and the events follow them.
func TestStreamGolden(t *testing.T) {
	if *updateGolden {
		t.Skip("updating the golden")
	}
	for _, c := range goldenCases() {
		if c.cfg.MinSpeech != 0 {
			continue // a Stream has no MinSpeech to set
		}
		pcm := EncodeLinear16(c.audio(t))
		for _, frame := range []int{3200, 1001} {
			eng := &recordingEngine{}
			s := newTestStream(t, StreamConfig{Engine: eng, Endpointing: c.cfg.Endpointing, MaxUtterance: c.cfg.MaxUtterance})
			var events []Event
			done := make(chan struct{})
			go func() {
				for ev := range s.Events() {
					events = append(events, ev)
				}
				close(done)
			}()
			for off := 0; off < len(pcm); off += frame {
				if err := s.Write(pcm[off:min(off+frame, len(pcm))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			<-done

			// The engine saw the golden utterances, Close flushing the last.
			var want []string
			for _, line := range strings.Split(strings.TrimSpace(golden(t, c.name)), "\n") {
				if strings.HasPrefix(line, "U ") {
					f := strings.Fields(line)
					want = append(want, f[1]+" "+f[2]+" "+f[4])
				}
			}
			if got := eng.seen(); !slices.Equal(got, want) {
				t.Errorf("%s, %d-byte frames: engine got\n%s\nwant\n%s", c.name, frame, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var starts, results int
			for _, ev := range events {
				switch ev.Type {
				case EventSpeechStarted:
					starts++
				case EventResult:
					results++
				}
			}
			if wantStarts := strings.Count(golden(t, c.name), "S "); starts != wantStarts || results != len(want) {
				t.Errorf("%s, %d-byte frames: %d SpeechStarted and %d Results, want %d and %d", c.name, frame, starts, results, wantStarts, len(want))
			}
		}
	}
}

// goldenDir holds one file a goldenCase: what the segmenter produced,
// "S ms" for a speech start, "U index start-end cut hash" for an
// utterance, one event a line.
const goldenDir = "testdata/segment-golden"

// golden is the pinned description of a case.
func golden(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".txt"))
	if err != nil {
		t.Fatalf("%v (run go test -run TestSegmenterGolden -update-golden to write it)", err)
	}
	return string(b)
}

// recordingEngine notes the span and hash of each utterance it is given.
type recordingEngine struct {
	mu  sync.Mutex
	got map[int]string
}

func (e *recordingEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.got == nil {
		e.got = map[int]string{}
	}
	e.got[u.Index] = fmt.Sprintf("%d %d-%d %016x", u.Index, u.Start.Milliseconds(), (u.Start + u.Duration()).Milliseconds(), samplesHash(u.Samples))
	return Transcript{Text: "words"}, nil
}

func (e *recordingEngine) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.got))
	for i, s := range e.got {
		if i < len(out) {
			out[i] = s
		}
	}
	return out
}

// lineDiff shows the first lines where two descriptions part.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: want %q, got %q (%d lines want, %d got)", i+1, wl, gl, len(w), len(g))
		}
	}
	return "(same lines)"
}

func writeGolden(t *testing.T, got map[string]string) {
	if err := os.MkdirAll(goldenDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, d := range got {
		if err := os.WriteFile(filepath.Join(goldenDir, name+".txt"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
