package transcription

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestStreamInterimResults speaks two utterances in 100 ms frames with
// interim results on: interims of an utterance arrive after the result of
// the one before and before their own final, start where it starts, never
// reach past the audio written, and their text never appears in a final.
func TestStreamInterimResults(t *testing.T) {
	eng := newDurationEngine()
	s := newTestStream(t, StreamConfig{Engine: eng, Interim: true, InterimInterval: 500 * time.Millisecond})
	audio := toneAudio(16000, 0.5, 3.0, 1.0, 2.5, 1.0)
	sawInterim := make(chan struct{}, 1)
	evCh := make(chan []Event)
	go func() {
		var evs []Event
		for ev := range s.Events() {
			evs = append(evs, ev)
			if ev.Type == EventInterim {
				select {
				case sawInterim <- struct{}{}:
				default:
				}
			}
		}
		evCh <- evs
	}()
	const frame = 3200 // 100 ms
	for off := 0; off < len(audio); off += frame {
		if err := s.Write(audio[off:min(off+frame, len(audio))]); err != nil {
			t.Fatal(err)
		}
		if off == 20*frame { // 2 s in: mid first utterance; wait for its interim
			select {
			case <-sawInterim:
			case <-time.After(10 * time.Second):
				t.Fatal("no interim result during a 3 s utterance")
			}
		}
	}
	s.Close()
	evs := <-evCh

	finals := map[int]Result{}
	interims := map[int][]Result{}
	delivered := -1 // index of the last final delivered
	for _, ev := range evs {
		switch ev.Type {
		case EventResult:
			finals[ev.Result.Index] = ev.Result
			delivered = ev.Result.Index
		case EventInterim:
			r := ev.Result
			if r.Index != delivered+1 {
				t.Errorf("interim of utterance %d after the final of %d", r.Index, delivered)
			}
			if r.FromFinalize || r.SpeechFinal || r.Gap {
				t.Errorf("interim flags %+v", r)
			}
			if len(r.Transcript.Words) == 0 {
				t.Errorf("interim without words: %+v", r)
			}
			interims[r.Index] = append(interims[r.Index], r)
		}
	}
	if len(finals) != 2 {
		t.Fatalf("%d finals, want 2", len(finals))
	}
	if len(interims[0]) == 0 {
		t.Fatal("no interim of utterance 0 delivered")
	}
	for i, rs := range interims {
		f := finals[i]
		for _, r := range rs {
			if r.Start != f.Start || r.Duration > f.Duration {
				t.Errorf("interim %.2f+%.2f s outside final %.2f+%.2f s", r.Start.Seconds(), r.Duration.Seconds(), f.Start.Seconds(), f.Duration.Seconds())
			}
		}
	}
	for i, f := range finals {
		want := fmt.Sprintf("speech of %.2f seconds", f.Duration.Seconds())
		if f.Transcript.Text != want {
			t.Errorf("final %d text %q, want %q (interim text leaked?)", i, f.Transcript.Text, want)
		}
	}
	if math.Abs(finals[0].Duration.Seconds()-3.4) > 0.1 {
		t.Errorf("first utterance %.2f s, want about 3.4 s (3 s of tone with pre- and post-roll)", finals[0].Duration.Seconds())
	}
}

// TestStreamInterimSkippedWhileBusy holds the engine's first interim call:
// further interims are skipped rather than queued, and the final results
// are not held up behind it.
func TestStreamInterimSkippedWhileBusy(t *testing.T) {
	eng := newDurationEngine()
	release := make(chan struct{})
	held := make(chan struct{})
	eng.before = func(ctx context.Context, u Utterance, attempt int) error {
		if u.Index == 0 && attempt == 1 { // the first interim of utterance 0
			close(held)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	s := newTestStream(t, StreamConfig{Engine: eng, Interim: true})
	audio := toneAudio(16000, 0.3, 4.0, 1.0)
	var calls int
	for off := 0; off < len(audio); off += 1600 {
		s.Write(audio[off:min(off+1600, len(audio))])
	}
	<-held
	eng.mu.Lock()
	calls = eng.calls[0]
	eng.mu.Unlock()
	// Release before closing: the held call may be the final one (it can
	// reach the engine before the interim), and Close waits for it.
	close(release)
	go s.Close()
	evs := collect(s)
	// One held interim call and the final call for utterance 0.
	if calls > 2 {
		t.Errorf("%d engine calls for utterance 0 while an interim was in flight; want at most 2", calls)
	}
	rs := results(evs)
	if len(rs) != 1 || rs[0].Transcript.Text == "" {
		t.Errorf("final results %+v", rs)
	}
}

// TestStreamFinalizeWithNothingPending: Finalize in silence is answered by
// an empty final result with FromFinalize, and numbering goes on.
func TestStreamFinalizeWithNothingPending(t *testing.T) {
	s := newTestStream(t, StreamConfig{Engine: newDurationEngine()})
	s.Write(toneAudio(16000, 1.0))
	s.Finalize()
	s.Write(toneAudio(16000, 0.5, 1.0, 1.0))
	go s.Close()
	rs := results(collect(s))
	if len(rs) != 2 {
		t.Fatalf("results %+v, want the empty Finalize answer and one utterance", rs)
	}
	if e := rs[0]; !e.FromFinalize || e.SpeechFinal || e.Transcript.Text != "" || e.Duration != 0 || !near(e.Start, time.Second, 20*time.Millisecond) {
		t.Errorf("Finalize answer %+v", e)
	}
	if u := rs[1]; u.Index != 0 || u.FromFinalize || u.Transcript.Text == "" {
		t.Errorf("utterance after it %+v", u)
	}
}

// FuzzStreamWrite feeds any bytes, cut into frames of any (odd) lengths,
// to a Stream: it never panics, counts every whole sample, and delivers
// results in order with their audio on the timeline.
func FuzzStreamWrite(f *testing.F) {
	f.Add(toneAudio(16000, 0.3, 0.6, 0.6), uint8(7), uint16(8000))
	f.Add([]byte{1}, uint8(1), uint16(44100))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80, 0x01}, uint8(2), uint16(8000))
	f.Fuzz(func(t *testing.T, audio []byte, chunk uint8, rate uint16) {
		sr := int(rate)
		if sr < MinSampleRate || sr > MaxSampleRate {
			sr = 16000
		}
		s, err := NewStream(context.Background(), StreamConfig{Engine: newDurationEngine(), SampleRate: sr, Interim: true, InterimInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		step := int(chunk) | 1
		for off := 0; off < len(audio); off += step {
			if err := s.Write(audio[off:min(off+step, len(audio))]); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := s.Received(), time.Duration(len(audio)/2)*time.Second/time.Duration(sr); got != want {
			t.Fatalf("Received %v, want %v", got, want)
		}
		total := time.Duration(len(audio)/2) * time.Second / time.Duration(sr)
		go s.Close()
		last := -1
		for ev := range s.Events() {
			if ev.Type != EventResult {
				continue
			}
			r := ev.Result
			if r.Index <= last || r.Start < 0 || r.Start+r.Duration > total+20*time.Millisecond {
				t.Fatalf("result %d at %v+%v after %d, audio %v", r.Index, r.Start, r.Duration, last, total)
			}
			last = r.Index
		}
	})
}
