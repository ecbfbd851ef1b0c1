package transcription

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// durationEngine stands in for a remote speech-to-text service: its text
// is derived from the audio it gets ("speech of 1.20 seconds"), so a test
// can tell which audio went where. Hooks let a test hold, fail or inspect
// calls.
type durationEngine struct {
	mu      sync.Mutex
	calls   map[int]int // attempts per utterance index
	prompts map[int]string
	// before, if set, runs at the start of every call; a non-nil error is
	// returned as the engine's.
	before func(ctx context.Context, u Utterance, attempt int) error
}

func newDurationEngine() *durationEngine {
	return &durationEngine{calls: map[int]int{}, prompts: map[int]string{}}
}

func durationText(u Utterance) string {
	return fmt.Sprintf("speech of %.2f seconds", u.Duration().Seconds())
}

func (e *durationEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	e.mu.Lock()
	e.calls[u.Index]++
	attempt := e.calls[u.Index]
	e.prompts[u.Index] = u.Prompt
	e.mu.Unlock()
	if u.SampleRate != EngineSampleRate {
		return Transcript{}, &EngineError{Err: fmt.Errorf("rate %d", u.SampleRate)}
	}
	if e.before != nil {
		if err := e.before(ctx, u, attempt); err != nil {
			return Transcript{}, err
		}
	}
	return Transcript{Text: durationText(u), Confidence: 0.9}, nil
}

func (e *durationEngine) attempts(i int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[i]
}

// toneAudio renders alternating silence and tone spans (seconds) at rate
// as linear16 bytes: silence, tone, silence, tone …
func toneAudio(rate int, spans ...float64) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	var s []int16
	for i, d := range spans {
		for j := range int(d * float64(rate)) {
			v := rng.NormFloat64() * 30
			if i%2 == 1 {
				t := float64(j) / float64(rate)
				v += 4000*math.Sin(2*math.Pi*220*t) + 2000*math.Sin(2*math.Pi*660*t)
			}
			s = append(s, int16(v))
		}
	}
	return EncodeLinear16(s)
}

func newTestStream(t *testing.T, cfg StreamConfig) *Stream {
	t.Helper()
	if cfg.SampleRate == 0 {
		cfg.SampleRate = 16000
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	s, err := NewStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// collect reads events until Events is closed.
// abandon cancels the stream's context and closes it while it works,
// reads what events are left and checks that its goroutines end (see
// noGoroutinesLeft).
func abandon(t *testing.T, s *Stream, cancel context.CancelFunc, before int) {
	t.Helper()
	cancel()
	s.Close()
	for range s.Events() {
	}
	noGoroutinesLeft(t, before)
}

// noGoroutinesLeft fails t unless the goroutines come back down to
// before within a few seconds (a stream's workers end once it is closed
// or its context cancelled), printing the stacks of those left.
func noGoroutinesLeft(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func collect(s *Stream) []Event {
	var evs []Event
	for ev := range s.Events() {
		evs = append(evs, ev)
	}
	return evs
}

// results is the results of evs, in order.
func results(evs []Event) []Result {
	return pick(evs, func(ev Event) (Result, bool) { return ev.Result, ev.Type == EventResult })
}

// pick returns what get gives of each of es it keeps (ok), in order: the
// results among a stream's events, the utterances among a segmenter's.
func pick[E, T any](es []E, get func(E) (T, bool)) []T {
	var out []T
	for _, e := range es {
		if v, ok := get(e); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestStreamOrderAndEvents(t *testing.T) {
	eng := newDurationEngine()
	// Utterance 0 is held until utterance 1 has been recognised, so results
	// complete out of order and the stream must reorder them.
	oneDone := make(chan struct{})
	eng.before = func(ctx context.Context, u Utterance, _ int) error {
		switch u.Index {
		case 0:
			<-oneDone
		case 1:
			defer close(oneDone)
		}
		return nil
	}
	s := newTestStream(t, StreamConfig{Engine: eng})
	audio := toneAudio(16000, 0.5, 1.0, 1.0, 0.6, 1.0, 1.2, 1.0)
	if err := s.Write(audio); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	done := make(chan struct{})
	go func() { evs = collect(s); close(done) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done

	var types []EventType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	// Speech starts may come ahead of earlier results; results and their
	// utterance ends must alternate in index order.
	rs := results(evs)
	if len(rs) != 3 {
		t.Fatalf("events %v: %d results, want 3", types, len(rs))
	}
	var starts int
	for i, ev := range evs {
		switch ev.Type {
		case EventSpeechStarted:
			starts++
		case EventResult:
			if i+1 >= len(evs) || evs[i+1].Type != EventUtteranceEnd {
				t.Errorf("result %d not followed by UtteranceEnd: %v", ev.Result.Index, types)
			}
		}
	}
	if starts != 3 {
		t.Errorf("%d SpeechStarted, want 3", starts)
	}
	wantStart := []time.Duration{300 * time.Millisecond, 2300 * time.Millisecond, 3900 * time.Millisecond}
	for i, r := range rs {
		if r.Index != i || r.Gap || r.FromFinalize || !r.SpeechFinal {
			t.Errorf("result %d: %+v", i, r)
		}
		if !near(r.Start, wantStart[i], 30*time.Millisecond) {
			t.Errorf("result %d starts at %v, want %v", i, r.Start, wantStart[i])
		}
		want := fmt.Sprintf("speech of %.2f seconds", r.Duration.Seconds())
		if r.Transcript.Text != want {
			t.Errorf("result %d text %q, want %q", i, r.Transcript.Text, want)
		}
		// Words were estimated onto the session timeline.
		w := r.Transcript.Words
		if len(w) != 4 || w[0].Start != r.Start || !near(w[3].End, r.Start+r.Duration, time.Millisecond) || w[0].Confidence != 0.9 {
			t.Errorf("result %d words %+v", i, w)
		}
	}
	if got, want := s.Received(), 6300*time.Millisecond; got != want {
		t.Errorf("Received = %v, want %v", got, want)
	}
}

func TestStreamPromptContinuity(t *testing.T) {
	eng := newDurationEngine()
	s := newTestStream(t, StreamConfig{Engine: eng, Concurrency: 1})
	if err := s.Write(toneAudio(16000, 0.5, 0.7, 1.0, 0.9, 1.0, 1.1, 1.0)); err != nil {
		t.Fatal(err)
	}
	go s.Close()
	rs := results(collect(s))
	if len(rs) != 3 {
		t.Fatalf("%d results", len(rs))
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.prompts[0] != "" {
		t.Errorf("first utterance prompt %q", eng.prompts[0])
	}
	// Each prompt is the transcript so far, not only the utterance before.
	var before []string
	for i := 1; i < len(rs); i++ {
		before = append(before, rs[i-1].Transcript.Text)
		if want := strings.Join(before, " "); eng.prompts[i] != want {
			t.Errorf("utterance %d prompt %q, want %q", i, eng.prompts[i], want)
		}
	}
}

// TestStreamPromptIsTheTranscriptsEnd: the prompt is the last maxPrompt
// bytes of the text before, however short each utterance was.
func TestStreamPromptIsTheTranscriptsEnd(t *testing.T) {
	s := &Stream{texts: map[int]string{}, cfg: StreamConfig{Concurrency: 2}}
	var all []string
	for i := range 200 {
		w := fmt.Sprintf("word%03d", i)
		s.texts[i] = w
		all = append(all, w)
	}
	got := s.prompt(200)
	if want := lastBytes(strings.Join(all, " "), maxPrompt); got != want || len(got) != maxPrompt {
		t.Errorf("prompt %q (%d bytes), want the last %d bytes of the transcript", got, len(got), maxPrompt)
	}
	delete(s.texts, 199) // still in flight
	if got := s.prompt(200); !strings.HasSuffix(got, "word197 word198") {
		t.Errorf("prompt with the last in flight ends %q", got[len(got)-20:])
	}
}

// deadlineEngine records how long each call's context gives it.
type deadlineEngine struct {
	mu    sync.Mutex
	left  []time.Duration
	limit time.Duration
}

func (e *deadlineEngine) CallTimeout(u Utterance) time.Duration { return e.limit + u.Duration() }

func (e *deadlineEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	d, _ := ctx.Deadline()
	e.mu.Lock()
	e.left = append(e.left, time.Until(d))
	e.mu.Unlock()
	return Transcript{Text: "x"}, nil
}

// TestStreamCallTimeoutFromEngine: an engine that says how long its calls
// may take (the OpenAI engine, scaled with the utterance) is not cut off
// at the stream's 60 s default, also through the concurrency limit.
func TestStreamCallTimeoutFromEngine(t *testing.T) {
	eng := &deadlineEngine{limit: 90 * time.Second}
	s := newTestStream(t, StreamConfig{Engine: Limit(eng, 1)})
	if err := s.Write(toneAudio(16000, 0.5, 2, 0.8)); err != nil {
		t.Fatal(err)
	}
	go s.Close()
	if rs := results(collect(s)); len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if len(eng.left) != 1 || eng.left[0] < 90*time.Second+2*time.Second-time.Second {
		t.Errorf("the engine's call had %v, want 90 s and the utterance's length (over 2 s)", eng.left)
	}
}

func TestStreamFinalize(t *testing.T) {
	eng := newDurationEngine()
	s := newTestStream(t, StreamConfig{Engine: eng})
	defer s.Close()
	// Speech still going on: nothing until Finalize.
	if err := s.Write(toneAudio(16000, 0.5, 0.8)); err != nil {
		t.Fatal(err)
	}
	if err := s.Finalize(); err != nil {
		t.Fatal(err)
	}
	var r Result
	for ev := range s.Events() {
		if ev.Type == EventResult {
			r = ev.Result
			break
		}
	}
	if !r.FromFinalize || r.Gap || !near(r.Start, 300*time.Millisecond, 20*time.Millisecond) || !near(r.Duration, time.Second, 20*time.Millisecond) {
		t.Errorf("finalized result %+v", r)
	}
	// The stream goes on after Finalize; the next utterance is not finalized.
	if err := s.Write(toneAudio(16000, 1.0, 0.6, 1.0)); err != nil {
		t.Fatal(err)
	}
	go s.Close()
	rs := results(collect(s))
	if len(rs) != 1 || rs[0].Index != 1 || rs[0].FromFinalize {
		t.Errorf("after Finalize: %+v", rs)
	}
	if err := s.Write([]byte{0, 0}); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := s.Finalize(); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("Finalize after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStreamCloseDrains(t *testing.T) {
	eng := newDurationEngine()
	release := make(chan struct{})
	eng.before = func(ctx context.Context, u Utterance, _ int) error { <-release; return nil }
	s := newTestStream(t, StreamConfig{Engine: eng})
	// Three utterances, the last one still being spoken when Close comes.
	if err := s.Write(toneAudio(16000, 0.5, 0.5, 1.0, 0.5, 1.0, 0.5)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	close(release)
	<-closed
	rs := results(collect(s))
	if len(rs) != 3 {
		t.Fatalf("%d results after Close, want 3", len(rs))
	}
	if !rs[2].FromFinalize || rs[0].FromFinalize {
		t.Errorf("FromFinalize flags: %v %v %v", rs[0].FromFinalize, rs[1].FromFinalize, rs[2].FromFinalize)
	}
}

func TestStreamRetriesAndGaps(t *testing.T) {
	transient := &EngineError{Status: 503, Transient: true, Err: errors.New("unavailable")}
	permanent := &EngineError{Status: 401, Err: errors.New("bad key")}
	tests := []struct {
		name         string
		fail         func(attempt int) error
		wantAttempts int
		wantGap      bool
	}{
		{"recovers after two transient failures", func(a int) error {
			if a <= 2 {
				return transient
			}
			return nil
		}, 3, false},
		{"timeouts are retried", func(a int) error {
			if a == 1 {
				return context.DeadlineExceeded
			}
			return nil
		}, 2, false},
		{"persistent transient failure becomes a gap", func(int) error { return transient }, 3, true},
		{"permanent failure is not retried", func(int) error { return permanent }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newDurationEngine()
			eng.before = func(_ context.Context, _ Utterance, attempt int) error { return tt.fail(attempt) }
			s := newTestStream(t, StreamConfig{Engine: eng, Attempts: 3, LateRetries: -1})
			s.Write(toneAudio(16000, 12, 4)) // speech from 11.8 s to 16.2 s, with roll
			go s.Close()
			rs := results(collect(s))
			if len(rs) != 1 {
				t.Fatalf("%d results", len(rs))
			}
			r := rs[0]
			if got := eng.attempts(0); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
			if r.Gap != tt.wantGap {
				t.Fatalf("gap = %v, want %v", r.Gap, tt.wantGap)
			}
			if tt.wantGap {
				if want := "[inaudible 00:12–00:16: transcription failed]"; r.Transcript.Text != want || len(r.Transcript.Words) != 0 {
					t.Errorf("gap transcript %+v, want %q", r.Transcript, want)
				}
			} else if r.Transcript.Text != fmt.Sprintf("speech of %.2f seconds", r.Duration.Seconds()) {
				t.Errorf("text %q", r.Transcript.Text)
			}
		})
	}
}

func TestStreamOddWrites(t *testing.T) {
	audio := toneAudio(44100, 0.5, 0.8, 1.0, 0.6, 0.5)
	run := func(chunk int) []Result {
		s := newTestStream(t, StreamConfig{Engine: newDurationEngine(), SampleRate: 44100})
		for b := audio; len(b) > 0; {
			n := min(chunk, len(b))
			s.Write(b[:n])
			b = b[n:]
		}
		go s.Close()
		return results(collect(s))
	}
	whole := run(len(audio))
	if len(whole) != 2 || !near(whole[1].Start, 2100*time.Millisecond, 30*time.Millisecond) {
		t.Fatalf("44.1 kHz results %+v", whole)
	}
	for _, chunk := range []int{1, 333, 4411} {
		got := run(chunk)
		if !slices.EqualFunc(got, whole, func(a, b Result) bool {
			return a.Start == b.Start && a.Duration == b.Duration && a.Transcript.Text == b.Transcript.Text
		}) {
			t.Errorf("chunk %d: results differ from one write", chunk)
		}
	}
}

func TestNewStreamValidates(t *testing.T) {
	eng := newDurationEngine()
	for _, rate := range []int{0, 4000, 96000} {
		_, err := NewStream(context.Background(), StreamConfig{Engine: eng, SampleRate: rate})
		var re *RateError
		if !errors.As(err, &re) {
			t.Errorf("rate %d: err %v", rate, err)
		}
	}
	if _, err := NewStream(context.Background(), StreamConfig{SampleRate: 16000}); err == nil {
		t.Error("nil engine accepted")
	}
	if _, err := NewStream(context.Background(), StreamConfig{Engine: eng, SampleRate: 16000, Endpointing: -1}); err == nil {
		t.Error("negative endpointing accepted")
	}
}

func TestStreamNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		s := newTestStream(t, StreamConfig{Engine: newDurationEngine()})
		s.Write(toneAudio(16000, 0.5, 0.5, 1.0, 0.5))
		go s.Close()
		collect(s)
	}
	// Abandoning a stream by cancelling its context also frees everything,
	// even with an engine call in flight and nobody reading Events.
	ctx, cancel := context.WithCancel(context.Background())
	eng := newDurationEngine()
	started := make(chan struct{})
	eng.before = func(ctx context.Context, u Utterance, _ int) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	s, err := NewStream(ctx, StreamConfig{Engine: eng, SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(toneAudio(16000, 0.5, 0.5, 1.0))
	<-started
	abandon(t, s, cancel, before)
}

func TestEstimateWords(t *testing.T) {
	w := EstimateWords("  a bb  ccc ", time.Second, 2*time.Second)
	if len(w) != 3 {
		t.Fatalf("%d words", len(w))
	}
	// 8 units: a_bb_ccc — each word starts where the gap before it ends,
	// and the last one ends with the span.
	want := []Word{
		{Word: "a", Start: time.Second, End: time.Second + time.Second/8},
		{Word: "bb", Start: time.Second + 2*time.Second/8, End: time.Second + 4*time.Second/8},
		{Word: "ccc", Start: time.Second + 5*time.Second/8, End: 2 * time.Second},
	}
	for i := range want {
		if w[i].Word != want[i].Word || !near(w[i].Start, want[i].Start, time.Microsecond) || !near(w[i].End, want[i].End, time.Microsecond) {
			t.Errorf("word %d = %+v, want %+v", i, w[i], want[i])
		}
	}
	if EstimateWords(" ", 0, time.Second) != nil {
		t.Error("words from blank text")
	}
}

func TestGapMarker(t *testing.T) {
	for _, tt := range []struct {
		start, end time.Duration
		want       string
	}{
		{12 * time.Second, 19400 * time.Millisecond, "[inaudible 00:12–00:19: x]"},
		{61 * time.Minute, 62*time.Minute + 5*time.Second, "[inaudible 1:01:00–1:02:05: x]"},
	} {
		if got := GapMarker(tt.start, tt.end, "x"); got != tt.want {
			t.Errorf("GapMarker = %q, want %q", got, tt.want)
		}
	}
	if !strings.HasPrefix(GapMarker(0, 0, "y"), "[inaudible 00:00") {
		t.Error("zero marker")
	}
}

func TestIsTransient(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&EngineError{Status: 429, Transient: true}, true},
		{fmt.Errorf("wrapped: %w", &EngineError{Status: 400}), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{errors.New("connection reset"), true},
	} {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%v) = %v", tt.err, got)
		}
	}
}

// TestStreamBacklog: utterances waiting for a slow engine are the
// backlog, with their audio; it empties as results are delivered.
func TestStreamBacklog(t *testing.T) {
	eng := newDurationEngine()
	release := make(chan struct{})
	eng.before = func(ctx context.Context, u Utterance, _ int) error { <-release; return nil }
	s := newTestStream(t, StreamConfig{Engine: eng, Endpointing: 300 * time.Millisecond})
	if n, d := s.Backlog(); n != 0 || d != 0 {
		t.Fatalf("new stream's backlog: %d utterances, %v", n, d)
	}
	// Two utterances of 0.5 s and 1 s, each ended by silence.
	if err := s.Write(toneAudio(16000, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0)); err != nil {
		t.Fatal(err)
	}
	n, d := s.Backlog()
	if n != 2 || d < 1500*time.Millisecond || d > 3*time.Second {
		t.Errorf("backlog while the engine is stuck: %d utterances of %v, want 2 of about 1.5 s and their padding", n, d)
	}
	close(release)
	go s.Close()
	collect(s)
	if n, d := s.Backlog(); n != 0 || d != 0 {
		t.Errorf("backlog after the stream ended: %d utterances, %v", n, d)
	}
}
