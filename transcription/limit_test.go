package transcription

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// gateEngine holds every call until released, counting how many it holds
// at once.
type gateEngine struct {
	mu       sync.Mutex
	cur, max int
	calls    int
	release  chan struct{}
}

func (g *gateEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	g.mu.Lock()
	g.cur++
	g.calls++
	g.max = max(g.max, g.cur)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.cur--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
		return Transcript{Text: durationText(u), Confidence: 1}, nil
	case <-ctx.Done():
		return Transcript{}, ctx.Err()
	}
}

// waitFor yields until cond holds; the test's own timeout bounds it.
func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

// Many streams share one limited engine: the engine never sees more than
// the limit at once, the rest wait, and every utterance is recognised.
func TestLimitAcrossStreams(t *testing.T) {
	const limit, streams = 3, 6
	g := &gateEngine{release: make(chan struct{})}
	eng := Limit(g, limit)
	var wg sync.WaitGroup
	got := make([][]Result, streams)
	for i := range streams {
		s := newTestStream(t, StreamConfig{Engine: eng, Concurrency: 2})
		s.Write(toneAudio(16000, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			go s.Close()
			got[i] = results(collect(s))
		}()
	}
	// 6 streams × 2 workers want 12 calls at once.
	waitFor(func() bool { return eng.InFlight() == limit && eng.Waiting() == streams*2-limit })
	g.mu.Lock()
	held := g.cur
	g.mu.Unlock()
	if held != limit {
		t.Errorf("engine holds %d calls, want %d", held, limit)
	}
	close(g.release)
	wg.Wait()
	if g.max != limit {
		t.Errorf("at most %d calls at once, want %d", g.max, limit)
	}
	for i, rs := range got {
		if len(rs) != 3 {
			t.Errorf("stream %d: %d results", i, len(rs))
		}
		for _, r := range rs {
			if r.Gap {
				t.Errorf("stream %d: utterance %d is a gap", i, r.Index)
			}
		}
	}
	if eng.InFlight() != 0 || eng.Waiting() != 0 || g.calls != streams*3 {
		t.Errorf("after: %d in flight, %d waiting, %d calls", eng.InFlight(), eng.Waiting(), g.calls)
	}
}

// A caller whose context ends while waiting leaves the queue without
// taking a slot or reaching the engine.
func TestLimitCancelledWaiter(t *testing.T) {
	g := &gateEngine{release: make(chan struct{})}
	eng := Limit(g, 1)
	u := Utterance{SampleRate: EngineSampleRate, Samples: make([]int16, 1600)}
	first := make(chan error, 1)
	go func() {
		_, err := eng.Transcribe(context.Background(), u)
		first <- err
	}()
	waitFor(func() bool { return eng.InFlight() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := eng.Transcribe(ctx, u)
		second <- err
	}()
	waitFor(func() bool { return eng.Waiting() == 1 })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	if eng.Waiting() != 0 || eng.InFlight() != 1 {
		t.Errorf("after the waiter left: %d waiting, %d in flight", eng.Waiting(), eng.InFlight())
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Error(err)
	}
	// The slot is free again.
	if _, err := eng.Transcribe(context.Background(), u); err != nil {
		t.Error(err)
	}
	if g.calls != 2 {
		t.Errorf("engine saw %d calls, want 2 (the cancelled waiter never reached it)", g.calls)
	}
}

func TestLimitZeroIsUnbounded(t *testing.T) {
	g := &gateEngine{release: make(chan struct{})}
	eng := Limit(g, 0)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng.Transcribe(context.Background(), Utterance{SampleRate: EngineSampleRate})
		}()
	}
	waitFor(func() bool { return eng.InFlight() == 5 })
	close(g.release)
	wg.Wait()
	if eng.Cap() != 0 || eng.Waiting() != 0 {
		t.Errorf("cap %d, waiting %d", eng.Cap(), eng.Waiting())
	}
}
