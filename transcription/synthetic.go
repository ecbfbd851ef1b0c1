package transcription

import (
	"context"
	"strings"
	"time"
)

// SyntheticEngine is a stand-in Engine for load tests only: it hears no
// speech and returns one fixed word per whole second of audio (at least one),
// spread evenly over the utterance. It costs next to nothing, so a load test
// measures the gateway rather than a recogniser. Never configure it for
// real consultations: its transcripts are not what was said.
type SyntheticEngine struct {
	// Word is the word returned; empty means "word".
	Word string
}

// Transcribe returns Word repeated once per second of u, with timings.
func (e SyntheticEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	if err := ctx.Err(); err != nil {
		return Transcript{}, err
	}
	w := e.Word
	if w == "" {
		w = "word"
	}
	d := u.Duration()
	n := max(1, int(d/time.Second))
	t := Transcript{Text: strings.TrimSpace(strings.Repeat(w+" ", n)), Confidence: 1, Words: make([]Word, n)}
	for i := range n {
		t.Words[i] = Word{Word: w, Start: u.Start + d*time.Duration(i)/time.Duration(n),
			End: u.Start + d*time.Duration(i+1)/time.Duration(n), Confidence: 1}
	}
	return t, nil
}
