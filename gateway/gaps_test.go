package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription"
)

// outageEngine is toneEngine with the second utterance failing its first
// fail calls, as an engine having an outage while it is spoken would.
type outageEngine struct {
	fail  int
	mu    sync.Mutex
	calls int
}

func (e *outageEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	if u.Index == 1 {
		e.mu.Lock()
		e.calls++
		n := e.calls
		e.mu.Unlock()
		if n <= e.fail {
			// Permanent, so the stream makes the gap at once instead of
			// backing off; the late retry still comes.
			return transcription.Transcript{}, &transcription.EngineError{Status: 400, Err: errors.New("outage")}
		}
	}
	return toneEngine{}.Transcribe(ctx, u)
}

func TestListenGapRecoveredOnLateRetry(t *testing.T) {
	for _, tt := range []struct {
		name      string
		fail      int
		recovered bool
	}{
		{"engine back by the end of the session", 1, true},
		{"engine down for good", 1 << 30, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			audio := sqlitetest.Open(t)
			eng := &outageEngine{fail: tt.fail}
			e := newEnv(t, func(o *Options) {
				o.Engine = eng
				o.Audio = audio
				o.Limits.LiveDraftInterval = -1
			})
			msgs := e.stream("patient=p-1", tones(16000, 300, 500, 700))

			// The client saw the gap, then (when recovered) another final
			// for the same span with the words.
			var second []wsMsg
			for _, m := range byType(msgs, "Results") {
				if len(m.Channel.Alternatives) > 0 && m.Start > 1.5 && m.Start < 2.5 {
					second = append(second, m)
				}
			}
			wantFinals := 1
			if tt.recovered {
				wantFinals = 2
			}
			if len(second) != wantFinals {
				t.Fatalf("%d finals for the second utterance, want %d: %+v", len(second), wantFinals, second)
			}
			if got := second[0].Channel.Alternatives[0].Transcript; !strings.HasPrefix(got, "[inaudible ") {
				t.Errorf("first final %q, want the gap marker", got)
			}
			if tt.recovered {
				r := second[1]
				if !r.IsFinal || r.Start != second[0].Start || r.Duration != second[0].Duration ||
					r.Channel.Alternatives[0].Transcript != tonePhrases[1].phrase {
					t.Errorf("replacement %+v, gap %+v", r, second[0])
				}
			}

			// The note has every utterance once, in order, and the gap
			// marker only where the engine never recognised the audio.
			ready := byType(msgs, "NoteReady")
			if len(ready) != 1 {
				t.Fatalf("%d NoteReady", len(ready))
			}
			var n review.Note
			if resp := e.do("GET", ready[0].ReviewURL, token(t, "dr-a", "c1", review.RoleClinician), nil, &n); resp.StatusCode != 200 {
				t.Fatalf("GET note: %d", resp.StatusCode)
			}
			if len(n.Transcript) != 3 {
				t.Fatalf("transcript %+v", n.Transcript)
			}
			for i, u := range n.Transcript {
				if u.Index != i {
					t.Errorf("utterance %d has index %d", i, u.Index)
				}
			}
			u := n.Transcript[1]
			if tt.recovered {
				if u.Gap || u.Text != tonePhrases[1].phrase || n.Transcript[0].Text != tonePhrases[0].phrase || n.Transcript[2].Text != tonePhrases[2].phrase {
					t.Errorf("transcript %+v", n.Transcript)
				}
			} else if !u.Gap || !strings.HasPrefix(u.Text, "[inaudible 00:02") {
				t.Errorf("utterance 1 %+v, want the gap marker", u)
			}
		})
	}
}
