package transcription

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/transcription/openaitest"
)

func TestDedupeSeam(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// words lays out "a b c" as words 300 ms apart from start.
	words := func(start int, text string) Transcript {
		var ws []Word
		for i, f := range strings.Fields(text) {
			ws = append(ws, Word{Word: f, Start: ms(start + 300*i), End: ms(start + 300*i + 250)})
		}
		return Transcript{Text: text, Words: ws}
	}
	// prev's audio ends at 10.1 s, next's begins at 9.9 s.
	seamStart, seamEnd := ms(9900), ms(10100)
	cases := []struct {
		name       string
		prev, next Transcript
		want       string
	}{
		{"two words heard twice", words(9200, "the patient has"), words(9900, "patient has a cough."), "a cough."},
		{"case and punctuation", words(9500, "chest pain,"), words(9950, "Pain since Monday."), "since Monday."},
		{"nothing repeated", words(9500, "chest pain"), words(9950, "since Monday"), "since Monday"},
		{"a word said twice on purpose", words(9400, "I had had"), words(9950, "had had a fever"), "a fever"},
		{"repeat outside the overlap", words(8000, "pain"), words(11000, "pain again"), "pain again"},
		{"all of next repeated", words(9500, "the knee"), words(9950, "knee"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := dedupeSeam(c.prev, c.next, seamStart, seamEnd)
			if got.Text != c.want {
				t.Errorf("text %q, want %q", got.Text, c.want)
			}
			if n := len(strings.Fields(c.want)); len(got.Words) != n {
				t.Errorf("%d words kept, want %d: %+v", len(got.Words), n, got.Words)
			}
		})
	}
}

// toneWords is the vocabulary of the synthetic speech below: word i is a
// tone at 400 + 200·i Hz.
var toneWords = []string{"the", "patient", "reports", "chest", "pain", "since", "Monday", "morning"}

func toneFreq(i int) float64 { return 400 + 200*float64(i) }

// toneSpeech is 16 kHz audio of words said without a pause: 150 ms tones
// (each with a 20 ms dropout of digital silence in its middle, as a
// stop consonant has)
// joined by 60 ms of background noise, cycling through toneWords, for d.
// It returns the audio and the words said, in order.
func toneSpeech(d time.Duration) ([]int16, []string) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := func(s []int16, n int) []int16 {
		for range n {
			s = append(s, int16(rng.NormFloat64()*30))
		}
		return s
	}
	s := noise(nil, 16000)
	var said []string
	for i := 0; len(s) < int(d.Seconds()*16000); i++ {
		w := i % len(toneWords)
		f := toneFreq(w)
		for j := range 2400 {
			v := 0.0 // the dropout is quieter than the room
			if j < 1040 || j >= 1360 {
				v = 4000*math.Sin(2*math.Pi*f*float64(j)/16000) + rng.NormFloat64()*30
			}
			s = append(s, int16(v))
		}
		s = noise(s, 960)
		said = append(said, toneWords[w])
	}
	return noise(s, 16000), said
}

// hearTones is an OpenAI-compatible server's recogniser for toneSpeech: it
// hears a word wherever 50 ms or more of its tone is in the upload (a
// Goertzel filter per 10 ms frame), so a word split by a cut, or lying in
// the audio two utterances share, is heard by both, as Whisper hears a
// word it is given most of.
func hearTones(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	const frame = 160
	var resp openaitest.TranscriptionResponse
	cur, voiced, first, last := -1, 0, 0, 0
	flush := func() {
		if cur >= 0 && voiced >= 5 {
			resp.Words = append(resp.Words, openaitest.Word{Word: toneWords[cur],
				Start: float64(first) / 100, End: float64(last+1) / 100})
		}
		cur, voiced = -1, 0
	}
	for f := 0; (f+1)*frame <= len(r.Samples); f++ {
		x := r.Samples[f*frame : (f+1)*frame]
		best, bestMag := -1, 0.1*4000*frame/2 // a tone for at least a tenth of the frame
		for w := range toneWords {
			if m := goertzel(x, toneFreq(w), r.SampleRate); m > bestMag {
				best, bestMag = w, m
			}
		}
		switch {
		case best < 0:
			if cur >= 0 && f-last > 3 { // longer than a dropout: the word ended
				flush()
			}
		case best == cur:
			voiced, last = voiced+1, f
		default:
			flush()
			cur, voiced, first, last = best, 1, f, f
		}
	}
	flush()
	var text []string
	for _, w := range resp.Words {
		text = append(text, w.Word)
	}
	resp.Text = strings.Join(text, " ")
	return resp, nil
}

// goertzel is the magnitude of x at frequency f.
func goertzel(x []int16, f float64, rate int) float64 {
	c := 2 * math.Cos(2*math.Pi*f/float64(rate))
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return math.Sqrt(s1*s1 + s2*s2 - c*s1*s2)
}

// TestForcedCutsHeardOnce: 65 s said without a pause is cut twice at
// MaxUtterance; every word said is in the transcript once, in order, none
// lost at a cut and none doubled, with the recognition done by an
// OpenAI-compatible server over HTTP through the OpenAI engine.
func TestForcedCutsHeardOnce(t *testing.T) {
	samples, said := toneSpeech(65 * time.Second)
	srv := openaitest.New(t, &openaitest.Server{Transcribe: hearTones})
	s, err := NewStream(context.Background(), StreamConfig{Engine: newOpenAI(t, srv, ""), SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]byte, 2*len(samples))
	for i, v := range samples {
		pcm[2*i], pcm[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	done := make(chan []Event)
	go func() { done <- collect(s) }()
	for len(pcm) > 0 {
		n := min(3200, len(pcm))
		if err := s.Write(pcm[:n]); err != nil {
			t.Fatal(err)
		}
		pcm = pcm[n:]
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rs := results(<-done)
	cuts := 0
	var heard, texts []string
	for _, r := range rs {
		if !r.SpeechFinal {
			cuts++
		}
		for _, w := range r.Transcript.Words {
			heard = append(heard, w.Word)
		}
		texts = append(texts, r.Transcript.Text)
	}
	if cuts != 2 {
		t.Errorf("%d forced cuts, want 2", cuts)
	}
	if !slices.Equal(heard, said) {
		t.Errorf("heard %d words, said %d; first difference at %d", len(heard), len(said), firstDiff(heard, said))
	}
	if got, want := strings.Join(texts, " "), strings.Join(said, " "); got != want {
		t.Errorf("transcript text differs from what was said at byte %d", firstDiff([]string{got}, []string{want}))
	}
}

// firstDiff is the index of the first element (or, for one string each,
// byte) where a and b differ.
func firstDiff(a, b []string) int {
	if len(a) == 1 && len(b) == 1 {
		a, b = strings.Split(a[0], ""), strings.Split(b[0], "")
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
