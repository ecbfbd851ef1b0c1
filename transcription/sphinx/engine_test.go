//go:build cgo

package sphinx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/transcription"
)

// fixture is the espeak-ng recording shared with package transcription
// (../testdata/make_speech.sh), cut into utterances as a Stream would.
func fixture(t testing.TB) []transcription.Utterance {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "speech.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, pcm, err := transcription.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if format.SampleRate != transcription.EngineSampleRate || format.Channels != 1 {
		t.Fatalf("fixture format %+v", format)
	}
	s, err := transcription.DecodeLinear16(pcm)
	if err != nil {
		t.Fatal(err)
	}
	seg := transcription.NewSegmenter(transcription.SegmenterConfig{})
	var us []transcription.Utterance
	for _, ev := range seg.Flush(seg.Write(nil, s)) {
		if ev.Kind == transcription.SegmentUtterance {
			us = append(us, ev.Utterance)
		}
	}
	if len(us) != 2 {
		t.Fatalf("fixture cut into %d utterances, want 2", len(us))
	}
	return us
}

// fixtureText is what espeak-ng said in each utterance.
var fixtureText = []string{"one two three four five six", "how are you today"}

func newEngine(t testing.TB, decoders int) *Engine {
	t.Helper()
	e, err := New(Config{Decoders: decoders})
	if errors.Is(err, ErrModelMissing) {
		t.Skip("PocketSphinx model not installed:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// overlap is the share of want's words that got contains.
func overlap(got, want string) float64 {
	have := map[string]int{}
	for _, w := range strings.Fields(strings.ToLower(got)) {
		have[w]++
	}
	ws := strings.Fields(want)
	n := 0
	for _, w := range ws {
		if have[w] > 0 {
			have[w]--
			n++
		}
	}
	return float64(n) / float64(len(ws))
}

func TestRecognisesFixture(t *testing.T) {
	e := newEngine(t, 1)
	var heard, want []string
	for i, u := range fixture(t) {
		u.Language = "en-US"
		tr, err := e.Transcribe(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("utterance %d at %v: heard %q (confidence %.2f)", i, u.Start, tr.Text, tr.Confidence)
		heard = append(heard, tr.Text)
		want = append(want, fixtureText[i])
		end := u.Start + u.Duration()
		prev := u.Start
		for _, w := range tr.Words {
			if strings.ContainsAny(w.Word, "<>[]()") {
				t.Errorf("filler or alternate mark left in %q", w.Word)
			}
			// Words are on the session timeline, within their utterance.
			if w.Start < prev || w.End <= w.Start || w.End > end+10*time.Millisecond || w.Confidence < 0 || w.Confidence > 1 {
				t.Errorf("word %+v out of order or outside %v–%v", w, u.Start, end)
			}
			prev = w.Start
		}
		if len(tr.Words) != len(strings.Fields(tr.Text)) {
			t.Errorf("%d words for text %q", len(tr.Words), tr.Text)
		}
	}
	if r := overlap(strings.Join(heard, " "), strings.Join(want, " ")); r < 0.6 {
		t.Errorf("word overlap %.2f between %q and %q, want at least 0.6", r, heard, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEngine(t, 2)
	u := fixture(t)[1]
	var wg sync.WaitGroup
	texts := make([]string, 4)
	for i := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := e.Transcribe(context.Background(), u)
			if err != nil {
				t.Error(err)
			}
			texts[i] = tr.Text
		}()
	}
	wg.Wait()
	for i := range texts {
		if texts[i] != texts[0] || texts[i] == "" {
			t.Errorf("decoders disagree on the same audio: %q", texts)
			break
		}
	}
}

func TestRefuses(t *testing.T) {
	e := newEngine(t, 1)
	for name, u := range map[string]transcription.Utterance{
		"8 kHz":  {Samples: make([]int16, 8000), SampleRate: 8000},
		"french": {Samples: make([]int16, 16000), SampleRate: 16000, Language: "fr"},
	} {
		_, err := e.Transcribe(context.Background(), u)
		var ee *transcription.EngineError
		if !errors.As(err, &ee) || ee.Transient {
			t.Errorf("%s: err %v, want a permanent EngineError", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Transcribe(ctx, transcription.Utterance{Samples: make([]int16, 16000), SampleRate: 16000}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Silence is no speech, not an error and not invented words.
	tr, err := e.Transcribe(context.Background(), transcription.Utterance{Samples: make([]int16, 16000), SampleRate: 16000})
	if err != nil || tr.Text != "" {
		t.Errorf("silence: %q, %v", tr.Text, err)
	}
}

func TestModelMissing(t *testing.T) {
	_, err := New(Config{ModelDir: t.TempDir()})
	if !errors.Is(err, ErrModelMissing) {
		t.Errorf("err = %v", err)
	}
}

func TestCleanWord(t *testing.T) {
	for in, want := range map[string]string{"<s>": "", "</s>": "", "<sil>": "", "[NOISE]": "", "++BREATH++": "", "read(2)": "read", "cough": "cough"} {
		got, ok := cleanWord(in)
		if got != want || ok != (want != "") {
			t.Errorf("cleanWord(%q) = %q, %v", in, got, ok)
		}
	}
}

// BenchmarkRealTimeFactor reports seconds of decoding per second of audio
// (lower is faster; below 1 keeps up with live speech on one decoder).
func BenchmarkRealTimeFactor(b *testing.B) {
	e := newEngine(b, 1)
	u := fixture(b)[0]
	if _, err := e.Transcribe(context.Background(), u); err != nil { // load the model outside the timing
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := e.Transcribe(context.Background(), u); err != nil {
			b.Fatal(err)
		}
	}
	audio := u.Duration().Seconds() * float64(b.N)
	b.ReportMetric(time.Since(start).Seconds()/audio, "rtf")
}
