package transcription

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// applyResults builds the transcript a consumer keeps from a stream's
// results, as the gateway does: finals appended in order, a Replaces
// result put in place of its gap. It fails the test on a replacement
// without a gap before it, or a second one.
func applyResults(t *testing.T, rs []Result) []Result {
	t.Helper()
	var out []Result
	for _, r := range rs {
		if !r.Replaces {
			if len(out) > 0 && r.Index <= out[len(out)-1].Index {
				t.Fatalf("result %d after %d", r.Index, out[len(out)-1].Index)
			}
			out = append(out, r)
			continue
		}
		found := false
		for i := range out {
			if out[i].Index == r.Index {
				if !out[i].Gap {
					t.Fatalf("utterance %d replaced twice, or was no gap", r.Index)
				}
				if out[i].Start != r.Start || out[i].Duration != r.Duration {
					t.Errorf("replacement spans %v+%v, the gap %v+%v", r.Start, r.Duration, out[i].Start, out[i].Duration)
				}
				out[i], found = r, true
			}
		}
		if !found {
			t.Fatalf("replacement for utterance %d before its gap", r.Index)
		}
	}
	return out
}

// Utterance 1 fails its first fail calls; the rest succeed.
func failingOne(fail int) *durationEngine {
	eng := newDurationEngine()
	outage := &EngineError{Status: 503, Transient: true, Err: errors.New("unavailable")}
	eng.before = func(_ context.Context, u Utterance, attempt int) error {
		if u.Index == 1 && attempt <= fail {
			return outage
		}
		return nil
	}
	return eng
}

// speech: three utterances, 1.0, 1.5 and 1.2 s of tone between pauses.
var lateAudio = []float64{0.5, 1.0, 1.0, 1.5, 1.0, 1.2, 1.0}

func TestStreamLateRetryDuringSession(t *testing.T) {
	// Two attempts make the gap; the first late retry fails too, the
	// second succeeds while the session is still open.
	eng := failingOne(3)
	s := newTestStream(t, StreamConfig{Engine: eng, Attempts: 2, LateRetries: 3, LateRetryDelay: time.Millisecond})
	s.Write(toneAudio(16000, lateAudio...))
	var rs []Result
	for ev := range s.Events() {
		if ev.Type != EventResult {
			continue
		}
		rs = append(rs, ev.Result)
		if ev.Result.Replaces {
			break // the session is still open: Close has not been called
		}
	}
	if last := rs[len(rs)-1]; len(rs) < 3 || !rs[1].Gap || last.Index != 1 {
		t.Fatalf("before Close: %+v", rs)
	}
	go s.Close()
	rs = append(rs, results(collect(s))...)
	got := applyResults(t, rs)
	if len(got) != 3 {
		t.Fatalf("%d utterances: %+v", len(got), got)
	}
	for i, r := range got {
		if r.Index != i || r.Gap || r.Transcript.Text != durationText(Utterance{Samples: make([]int16, int(r.Duration.Seconds()*16000+0.5)), SampleRate: 16000}) {
			t.Errorf("utterance %d: %+v", i, r)
		}
		if len(r.Transcript.Words) == 0 || r.Transcript.Words[0].Start != r.Start {
			t.Errorf("utterance %d words not on the timeline: %+v", i, r.Transcript.Words)
		}
	}
	if n := eng.attempts(1); n != 4 {
		t.Errorf("utterance 1 tried %d times, want 2 + 2 late", n)
	}
	// The late retry had the text before it as its prompt (all there is
	// before it here).
	eng.mu.Lock()
	p := eng.prompts[1]
	eng.mu.Unlock()
	if p != got[0].Transcript.Text {
		t.Errorf("late retry prompt %q, want %q", p, got[0].Transcript.Text)
	}
}

func TestStreamLateRetryAtClose(t *testing.T) {
	// The timed retries are far off: only the last try, at Close, runs.
	eng := failingOne(2)
	s := newTestStream(t, StreamConfig{Engine: eng, Attempts: 2, LateRetryDelay: time.Hour})
	s.Write(toneAudio(16000, lateAudio...))
	go s.Close()
	evs := collect(s)
	got := applyResults(t, results(evs))
	if len(got) != 3 || got[1].Gap || !got[1].Replaces {
		t.Fatalf("transcript %+v", got)
	}
	if n := eng.attempts(1); n != 3 {
		t.Errorf("utterance 1 tried %d times, want 2 + the last", n)
	}
	// A replacement brings no second UtteranceEnd.
	ends := 0
	for _, ev := range evs {
		if ev.Type == EventUtteranceEnd {
			ends++
		}
	}
	if ends != 3 {
		t.Errorf("%d UtteranceEnd events, want 3", ends)
	}
}

func TestStreamLateRetryFailsForGood(t *testing.T) {
	eng := failingOne(1 << 30)
	timedDone := make(chan struct{})
	fail := eng.before
	eng.before = func(ctx context.Context, u Utterance, attempt int) error {
		if u.Index == 1 && attempt == 4 {
			close(timedDone)
		}
		return fail(ctx, u, attempt)
	}
	s := newTestStream(t, StreamConfig{Engine: eng, Attempts: 2, LateRetries: 2, LateRetryDelay: time.Millisecond})
	s.Write(toneAudio(16000, lateAudio...))
	<-timedDone // both timed late retries were made while the session went on
	go s.Close()
	rs := results(collect(s))
	got := applyResults(t, rs)
	if len(rs) != 3 || len(got) != 3 {
		t.Fatalf("results %+v", rs)
	}
	if !got[1].Gap || got[1].Transcript.Text != GapMarker(got[1].Start, got[1].Start+got[1].Duration, "transcription failed") {
		t.Errorf("utterance 1 %+v, want the gap marker", got[1])
	}
	if n := eng.attempts(1); n != 2+2+1 {
		t.Errorf("utterance 1 tried %d times, want 2 + 2 late + the last", n)
	}
	if s.gapBytes.Load() != 0 { // Buffered counts gaps' audio until they are settled
		t.Errorf("gap audio still held: %d bytes", s.gapBytes.Load())
	}
}

// An abandoned stream stops its late retries at once.
func TestStreamLateRetryAbandoned(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	eng := failingOne(1 << 30)
	s, err := NewStream(ctx, StreamConfig{Engine: eng, SampleRate: 16000, Attempts: 1, LateRetryDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(toneAudio(16000, lateAudio...))
	for ev := range s.Events() {
		if ev.Type == EventResult && ev.Result.Gap {
			break
		}
	}
	abandon(t, s, cancel, before)
}

// TestRetryGapFromBeforeTheStream: a gap handed over from an earlier
// stream (RetryGap, as a rebuilt session does) is tried at the engine's
// rate, whatever the stream's, and its replacement keeps the gap's index
// and span; the stream's own utterances are unaffected. With late retries
// off it is not tried.
func TestRetryGapFromBeforeTheStream(t *testing.T) {
	for _, c := range []struct {
		name    string
		rate    int
		retries int
		want    bool
	}{
		{"16 kHz", 16000, 0, true},
		{"8 kHz, resampled", 8000, 0, true},
		{"late retries off", 16000, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			eng := newDurationEngine()
			s := newTestStream(t, StreamConfig{Engine: eng, SampleRate: c.rate, LateRetries: c.retries, LateRetryDelay: time.Hour})
			gap := Result{Index: -3, Start: -10 * time.Second, Duration: 1500 * time.Millisecond, Gap: true,
				Transcript: Transcript{Text: GapMarker(0, 1500*time.Millisecond, "transcription failed")}}
			if err := s.RetryGap(toneAudio(c.rate, 0, 1.5), gap); err != nil {
				t.Fatal(err)
			}
			evs := make(chan []Event, 1)
			go func() { evs <- collect(s) }()
			if err := s.Write(toneAudio(c.rate, lateAudio...)); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var own, replaced []Result
			for _, r := range results(<-evs) {
				if r.Replaces {
					replaced = append(replaced, r)
				} else {
					own = append(own, r)
				}
			}
			if len(own) != 3 || own[0].Index != 0 {
				t.Errorf("the stream's own results: %+v, want utterances 0 to 2", own)
			}
			if !c.want {
				if len(replaced) != 0 || eng.calls[-3] != 0 {
					t.Errorf("late retries off, yet the gap was tried %d times: %+v", eng.calls[-3], replaced)
				}
				return
			}
			if len(replaced) != 1 {
				t.Fatalf("%d replacements, want 1: %+v", len(replaced), replaced)
			}
			r := replaced[0]
			if r.Index != gap.Index || r.Start != gap.Start || r.Duration != gap.Duration || r.Gap || r.Transcript.Text != "speech of 1.50 seconds" {
				t.Errorf("replacement %+v, want index %d at %v for %v with the engine's words for 1.5 s at 16 kHz", r, gap.Index, gap.Start, gap.Duration)
			}
		})
	}
}
