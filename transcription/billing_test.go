package transcription

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// billingEngine counts the audio it is sent, as a paid engine bills it.
type billingEngine struct {
	mu         sync.Mutex
	sent       time.Duration
	utterances int
}

func (e *billingEngine) Transcribe(_ context.Context, u Utterance) (Transcript, error) {
	e.mu.Lock()
	e.sent += u.Duration()
	e.utterances++
	e.mu.Unlock()
	return Transcript{Text: "words", Confidence: 1}, nil
}

// TestStreamBillsSpeechNotSilence: a consultation with long silences
// between its stretches of talk costs the engine about its speech, not its
// length. The audio is the test consultation three times over with 10 s of
// silence after each; what the engine is sent must be within the
// consultation's own length (its short pauses included) plus the pre- and
// post-roll of each utterance, and none of the 30 s of silence.
func TestStreamBillsSpeechNotSilence(t *testing.T) {
	f, err := os.Open("../testdata/consultations/knee-pain-short.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, data, err := ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if format.Channels != 1 {
		t.Fatalf("%d channels", format.Channels)
	}
	rate := format.SampleRate
	clip := time.Duration(len(data)/2) * time.Second / time.Duration(rate)
	silence := make([]byte, 2*10*rate) // digital silence: nothing for the engine
	var audio []byte
	for range 3 {
		audio = append(audio, data...)
		audio = append(audio, silence...)
	}
	total := time.Duration(len(audio)/2) * time.Second / time.Duration(rate)

	eng := &billingEngine{}
	s, err := NewStream(context.Background(), StreamConfig{Engine: eng, SampleRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(audio); off += rate / 5 { // 100 ms frames
		if err := s.Write(audio[off:min(off+rate/5, len(audio))]); err != nil {
			t.Fatal(err)
		}
	}
	go s.Close()
	rs := results(collect(s))

	// The words the engine could hear: the consultation, less its pauses.
	const roll = 400 * time.Millisecond // PreRoll + PostRoll of the segmenter
	bound := 3*clip + time.Duration(eng.utterances)*roll
	t.Logf("file %.1f s, consultation %.1f s ×3, sent %.1f s in %d utterances",
		total.Seconds(), clip.Seconds(), eng.sent.Seconds(), eng.utterances)
	if eng.utterances != len(rs) || eng.utterances < 3 {
		t.Fatalf("%d engine calls for %d results", eng.utterances, len(rs))
	}
	if eng.sent > bound {
		t.Errorf("sent %v to the engine, more than the speech and its roll (%v)", eng.sent, bound)
	}
	if eng.sent > total-30*time.Second+time.Duration(eng.utterances)*roll {
		t.Errorf("sent %v of a %v file: the silences were billed", eng.sent, total)
	}
	// Nothing said was dropped: every stretch of the consultation reached
	// the engine (its pauses are under a second each).
	if eng.sent < 3*clip*7/10 {
		t.Errorf("sent only %v of %v of consultation", eng.sent, 3*clip)
	}
}
