package transcription

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBuffers(t *testing.T) {
	b := NewBuffers(10 * 2 * 100)
	x := b.get(150, 100)
	if len(x) != 0 || cap(x) != 200 {
		t.Fatalf("get(150, 100): len %d cap %d, want 0 and 200 (whole units)", len(x), cap(x))
	}
	x = append(x, 1, 2, 3)
	b.Put(x)
	if st := b.Stats(); st.IdleBytes != 400 || st.Gets != 1 || st.Misses != 1 {
		t.Errorf("after one get and put: %+v, want 400 idle bytes, 1 get, 1 miss", st)
	}
	if y := b.get(101, 100); &y[:1][0] != &x[0] || len(y) != 0 {
		t.Errorf("get of the same size did not reuse the buffer given back, emptied")
	}
	if z := b.get(100, 100); cap(z) != 100 {
		t.Errorf("get(100, 100): cap %d, want 100", cap(z))
	}
	if st := b.Stats(); st.IdleBytes != 0 || st.Gets != 3 || st.Misses != 2 {
		t.Errorf("after reuse: %+v, want 0 idle bytes, 3 gets, 2 misses", st)
	}

	// Idle buffers are bounded in bytes: beyond, a buffer is left to the
	// collector.
	for range 6 {
		b.Put(make([]int16, 0, 200)) // 400 bytes each; 2,000 at most
	}
	if st := b.Stats(); st.IdleBytes != 2000 {
		t.Errorf("idle bytes %d after putting 2,400 with a bound of 2,000", st.IdleBytes)
	}

	// An utterance may get a buffer a little larger; a chunk never does.
	if c := b.chunk(100); cap(c) != 100 {
		t.Errorf("chunk(100): cap %d with only larger buffers idle", cap(c))
	}
	if y := b.get(150, 100); cap(y) != 300 && cap(y) != 200 {
		t.Errorf("get(150, 100): cap %d, want 200 or 300", cap(y))
	}

	// A nil Buffers allocates and keeps nothing.
	var none *Buffers
	if x := none.get(150, 100); cap(x) != 150 {
		t.Errorf("nil Buffers: cap %d, want exactly 150", cap(x))
	}
	none.Put(make([]int16, 10))
	if st := none.Stats(); st != (BuffersStats{}) {
		t.Errorf("nil Buffers stats %+v", st)
	}
}

func TestBuffersPutTwice(t *testing.T) {
	b := NewBuffers(1 << 20)
	b.check = true
	x := b.get(100, 100)
	b.Put(x)
	defer func() {
		if recover() == nil {
			t.Error("a buffer given back twice was taken")
		}
	}()
	b.Put(x)
}

// TestSegmenterReusesBuffers: a segmenter whose caller gives each
// utterance's samples back allocates nothing once its Buffers is warm,
// where without one it allocates every chunk and every utterance.
func TestSegmenterReusesBuffers(t *testing.T) {
	samples := noisy(consultation(t, "knee-pain-short.wav"), 40)
	var ev []SegmentEvent
	pass := func(seg *Segmenter, b *Buffers) (utterances int) {
		for off := 0; off < len(samples); off += 1600 {
			ev = seg.Write(ev[:0], samples[off:min(off+1600, len(samples))])
			for _, e := range ev {
				if e.Kind == SegmentUtterance {
					utterances++
					b.Put(e.Utterance.Samples)
				}
			}
		}
		return utterances
	}

	b := NewBuffers(16 << 20)
	seg := NewSegmenter(SegmenterConfig{Buffers: b})
	var n int
	for range 3 { // warms b: the first passes meet new peaks of audio held
		n = pass(seg, b)
	}
	if n < 5 {
		t.Fatalf("%d utterances in the consultation; the test needs several", n)
	}
	if allocs := testing.AllocsPerRun(3, func() { pass(seg, b) }); allocs != 0 {
		t.Errorf("%.1f allocations for %d utterances with warm Buffers, want none", allocs, n)
	}

	plain := NewSegmenter(SegmenterConfig{})
	if allocs := testing.AllocsPerRun(3, func() { pass(plain, nil) }); allocs < float64(n) {
		t.Errorf("without Buffers, %.1f allocations for %d utterances: the measure cannot see a copy", allocs, n)
	}
}

// TestStreamReusesBuffers: a second session over a Buffers the first one
// gave everything back to allocates next to nothing, and a closed stream
// holds no audio.
func TestStreamReusesBuffers(t *testing.T) {
	pcm := EncodeLinear16(consultation(t, "knee-pain-short.wav"))
	b := NewBuffers(16 << 20)
	run := func() BuffersStats {
		before := b.Stats()
		s := newTestStream(t, StreamConfig{Engine: SyntheticEngine{}, Buffers: b, Interim: true})
		done := make(chan []Event)
		go func() { done <- collect(s) }()
		for off := 0; off < len(pcm); off += 3200 {
			if err := s.Write(pcm[off:min(off+3200, len(pcm))]); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if n := len(results(<-done)); n < 5 {
			t.Fatalf("%d results; the test needs several utterances", n)
		}
		if n := s.Buffered(); n != 0 {
			t.Errorf("a closed stream holds %d bytes", n)
		}
		after := b.Stats()
		return BuffersStats{IdleBytes: after.IdleBytes, Gets: after.Gets - before.Gets, Misses: after.Misses - before.Misses}
	}
	first := run()
	second := run()
	t.Logf("first session %+v, second %+v", first, second)
	if first.Misses == 0 {
		t.Fatalf("the first session allocated nothing: %+v", first)
	}
	if second.Misses*10 > second.Gets {
		t.Errorf("second session allocated %d of its %d buffers, want at most a tenth", second.Misses, second.Gets)
	}
	if second.IdleBytes < first.IdleBytes {
		t.Errorf("idle bytes fell from %d to %d: the second session kept buffers", first.IdleBytes, second.IdleBytes)
	}
}

// checkingEngine fails calls at random and checks that the samples of
// every call are its stream's audio at u.Start, when the call begins and
// again after a pause in which other streams go on writing (and so take
// buffers): a buffer given back while still queued or read, or given back
// twice and so handed to two users, shows as other audio.
type checkingEngine struct {
	t     *testing.T
	audio map[string][]int16 // each stream's audio, by Language
	fail  float64
	calls atomic.Int64
}

func (e *checkingEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	e.calls.Add(1)
	want := e.audio[u.Language]
	off := int(u.Start * EngineSampleRate / time.Second)
	check := func(when string) {
		if len(u.Samples) == 0 || off+len(u.Samples) > len(want) || !slices.Equal(u.Samples, want[off:off+len(u.Samples)]) {
			e.t.Errorf("stream %s, utterance %d (%v, %d samples): not its audio %s", u.Language, u.Index, u.Start, len(u.Samples), when)
		}
	}
	check("when the call began")
	select {
	case <-time.After(time.Duration(rand.N(3)) * time.Millisecond):
	case <-ctx.Done():
	}
	check("after a pause")
	if rand.Float64() < e.fail {
		return Transcript{}, &EngineError{Transient: true, Err: errors.New("unavailable")}
	}
	return Transcript{Text: durationText(u)}, nil
}

// TestStreamBuffersNotReusedWhileRead runs streams side by side over one
// Buffers through every path an utterance's samples take (queue, retries,
// gaps, late retries during the session and at Close, interims) and checks
// that no buffer changes while a call reads it, none is given back twice,
// every one comes back, and the audio accounting ends at zero.
func TestStreamBuffersNotReusedWhileRead(t *testing.T) {
	const streams = 6
	base := consultation(t, "knee-pain-short.wav")
	b := NewBuffers(64 << 20)
	b.check = true
	eng := &checkingEngine{t: t, audio: map[string][]int16{}, fail: 0.5}
	for i := range streams {
		// Each stream plays the consultation from another point, so that
		// one stream's audio in another's buffer shows.
		k := i * len(base) / streams
		eng.audio[fmt.Sprint(i)] = append(slices.Clone(base[k:]), base[:k]...)
	}

	var wg sync.WaitGroup
	var gaps, replaced, interims atomic.Int64
	for i := range streams {
		s := newTestStream(t, StreamConfig{
			Engine: eng, Buffers: b, Language: fmt.Sprint(i),
			Attempts: 2, LateRetries: 1, LateRetryDelay: time.Millisecond,
			Interim: true, InterimInterval: 300 * time.Millisecond,
		})
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ev := range s.Events() {
				switch {
				case ev.Type == EventInterim:
					interims.Add(1)
				case ev.Result.Gap:
					gaps.Add(1)
				case ev.Result.Replaces:
					replaced.Add(1)
				}
			}
		}()
		go func() {
			defer wg.Done()
			pcm := EncodeLinear16(eng.audio[fmt.Sprint(i)])
			for off := 0; off < len(pcm); off += 3200 {
				if err := s.Write(pcm[off:min(off+3200, len(pcm))]); err != nil {
					t.Error(err)
					return
				}
				if off%(10*3200) == 0 {
					time.Sleep(time.Millisecond) // let calls overlap the writing
				}
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if s.busy.Load() != 0 || s.gapBytes.Load() != 0 || s.Buffered() != 0 {
				t.Errorf("stream %d closed holding audio: busy %d, gaps %d, buffered %d", i, s.busy.Load(), s.gapBytes.Load(), s.Buffered())
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls, %d gaps, %d replaced, %d interims; %+v", eng.calls.Load(), gaps.Load(), replaced.Load(), interims.Load(), b.Stats())
	if gaps.Load() == 0 || replaced.Load() == 0 || interims.Load() == 0 {
		t.Errorf("a path went untried: %d gaps, %d replaced, %d interims", gaps.Load(), replaced.Load(), interims.Load())
	}

	// Every buffer allocated came back, once.
	st := b.Stats()
	idle := 0
	for _, l := range b.free {
		idle += l.len()
	}
	if uint64(idle) != st.Misses {
		t.Errorf("%d buffers idle after every stream closed, %d allocated", idle, st.Misses)
	}
	if st.Misses*2 > st.Gets {
		t.Errorf("%d of %d buffers allocated: little reuse", st.Misses, st.Gets)
	}
}

// TestBuffersKeepTheNewest: at the bound, every Put lets the buffer idle
// longest go, whatever its size, so what stays idle is the newest run of
// buffers given back, and a get takes the newest of its size. The bound
// is passed many times over, so the lists are cut from the front (and
// compacted) many times.
func TestBuffersKeepTheNewest(t *testing.T) {
	const bound = 40 * 2 * 100
	b := NewBuffers(bound)
	sizes := []int{100, 200, 100, 100, 300}
	size := func(tag int) int { return sizes[tag%len(sizes)] }
	const n = 2000
	for i := range n {
		s := make([]int16, 1, size(i))
		s[0] = int16(i)
		b.Put(s)
	}
	// The newest buffers that fit in the bound.
	first, bytes := n, 0
	for first > 0 && bytes+2*size(first-1) <= bound {
		first--
		bytes += 2 * size(first)
	}
	if st := b.Stats(); st.IdleBytes != bytes {
		t.Fatalf("idle bytes %d, want %d (the newest %d buffers)", st.IdleBytes, bytes, n-first)
	}
	var idle []int
	for c, l := range b.free {
		for i, e := range l.bufs[l.head:] {
			tag := int(e.s[:1][0])
			if cap(e.s) != c || (i > 0 && tag <= idle[len(idle)-1]) {
				t.Fatalf("list of %d holds buffer %d (cap %d) out of order", c, tag, cap(e.s))
			}
			idle = append(idle, tag)
		}
	}
	slices.Sort(idle)
	want := make([]int, 0, n-first)
	for i := first; i < n; i++ {
		want = append(want, i)
	}
	if !slices.Equal(idle, want) {
		t.Fatalf("idle buffers %v, want the newest, %v", idle, want)
	}
	// A get takes the newest of its size.
	newest := n - 1
	for size(newest) != 300 {
		newest--
	}
	if c := b.chunk(300); int(c[:1][0]) != newest {
		t.Errorf("chunk(300) gave buffer %d, want the newest, %d", c[:1][0], newest)
	}
}
