package transcription

import (
	"context"
	"testing"
	"time"
)

func TestSyntheticEngine(t *testing.T) {
	for _, tc := range []struct {
		samples int
		words   int
	}{{8000, 1}, {16000, 1}, {56000, 3}} {
		u := Utterance{Start: 2 * time.Second, Samples: make([]int16, tc.samples), SampleRate: 16000}
		tr, err := SyntheticEngine{}.Transcribe(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Words) != tc.words {
			t.Errorf("%d samples: %d words, want %d", tc.samples, len(tr.Words), tc.words)
		}
		if tr.Words[0].Start != u.Start || tr.Words[len(tr.Words)-1].End != u.Start+u.Duration() {
			t.Errorf("%d samples: words %+v not spread over %v+%v", tc.samples, tr.Words, u.Start, u.Duration())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (SyntheticEngine{}).Transcribe(ctx, Utterance{}); err == nil {
		t.Error("a cancelled call succeeded")
	}
}
