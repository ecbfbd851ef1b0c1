package transcription

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// audio builds synthetic test audio at 16 kHz: quiet background noise
// throughout, with tones laid on top.
type audio struct {
	s   []int16
	rng *rand.Rand
}

func newAudio() *audio { return &audio{rng: rand.New(rand.NewPCG(1, 2))} }

// silence appends background noise (rms about 30, -60 dBFS).
func (a *audio) silence(d time.Duration) *audio {
	for range int(d.Seconds() * 16000) {
		a.s = append(a.s, int16(a.rng.NormFloat64()*30))
	}
	return a
}

// tone appends a voiced sound: a 220 Hz tone with harmonics plus noise.
func (a *audio) tone(d time.Duration) *audio {
	for i := range int(d.Seconds() * 16000) {
		t := float64(i) / 16000
		v := 4000*math.Sin(2*math.Pi*220*t) + 2000*math.Sin(2*math.Pi*660*t) + a.rng.NormFloat64()*30
		a.s = append(a.s, int16(v))
	}
	return a
}

// speechLike appends syllable-like bursts (250 ms voiced, 120 ms dips)
// with no pause long enough to end an utterance.
func (a *audio) speechLike(d time.Duration) *audio {
	for end := len(a.s) + int(d.Seconds()*16000); len(a.s) < end; {
		a.tone(250 * time.Millisecond).silence(120 * time.Millisecond)
	}
	return a
}

func segmentAll(cfg SegmenterConfig, s []int16, chunk int, flush bool) []SegmentEvent {
	seg := NewSegmenter(cfg)
	var ev []SegmentEvent
	for len(s) > 0 {
		n := min(chunk, len(s))
		ev = seg.Write(ev, s[:n])
		s = s[n:]
	}
	if flush {
		ev = seg.Flush(ev)
	}
	return ev
}

// utterances is the utterances of ev, in order.
func utterances(ev []SegmentEvent) []Utterance {
	return pick(ev, func(e SegmentEvent) (Utterance, bool) { return e.Utterance, e.Kind == SegmentUtterance })
}

func near(got, want, tol time.Duration) bool { return got >= want-tol && got <= want+tol }

func TestSegmenterPauses(t *testing.T) {
	a := newAudio().
		silence(time.Second).tone(time.Second). // utterance 0: 1.0–2.0
		silence(time.Second).
		tone(500 * time.Millisecond).silence(300 * time.Millisecond).tone(500 * time.Millisecond). // utterance 1: 3.0–4.3, a short pause inside
		silence(time.Second).
		tone(20 * time.Millisecond). // a click: ignored
		silence(time.Second)
	ev := segmentAll(SegmenterConfig{}, a.s, 320, false)

	var starts []time.Duration
	for _, e := range ev {
		if e.Kind == SegmentSpeechStarted {
			starts = append(starts, e.At)
		}
	}
	us := utterances(ev)
	if len(us) != 2 || len(starts) != 2 {
		t.Fatalf("got %d utterances, %d starts; want 2 and 2", len(us), len(starts))
	}
	const tol = 30 * time.Millisecond
	for i, want := range []struct{ speech, start, end time.Duration }{
		{time.Second, 800 * time.Millisecond, 2200 * time.Millisecond},
		{3 * time.Second, 2800 * time.Millisecond, 4500 * time.Millisecond},
	} {
		u := us[i]
		if u.Index != i || !near(starts[i], want.speech, tol) || !near(u.Start, want.start, tol) || !near(u.Start+u.Duration(), want.end, tol) {
			t.Errorf("utterance %d: index %d speech at %v, spans %v–%v; want %v, %v–%v",
				i, u.Index, starts[i], u.Start, u.Start+u.Duration(), want.speech, want.start, want.end)
		}
		if u.SampleRate != 16000 {
			t.Errorf("sample rate %d", u.SampleRate)
		}
		// The samples are the input's, not a copy of something else.
		off := int(u.Start.Seconds() * 16000)
		if !slices.Equal(u.Samples, a.s[off:off+len(u.Samples)]) {
			t.Errorf("utterance %d samples are not the input at its start", i)
		}
	}
}

func TestSegmenterChunkInvariance(t *testing.T) {
	a := newAudio().silence(500 * time.Millisecond).tone(time.Second).silence(time.Second).tone(700 * time.Millisecond)
	want := segmentAll(SegmenterConfig{}, a.s, len(a.s), true)
	for _, chunk := range []int{1, 77, 160, 4000} {
		got := segmentAll(SegmenterConfig{}, a.s, chunk, true)
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d events, want %d", chunk, len(got), len(want))
		}
		for i := range got {
			if got[i].Kind != want[i].Kind || got[i].At != want[i].At || len(got[i].Utterance.Samples) != len(want[i].Utterance.Samples) {
				t.Errorf("chunk %d: event %d differs", chunk, i)
			}
		}
	}
}

func TestSegmenterFlush(t *testing.T) {
	a := newAudio().silence(500 * time.Millisecond).tone(800 * time.Millisecond)
	if us := utterances(segmentAll(SegmenterConfig{}, a.s, 160, false)); len(us) != 0 {
		t.Fatalf("utterance before its pause: %d", len(us))
	}
	us := utterances(segmentAll(SegmenterConfig{}, a.s, 160, true))
	if len(us) != 1 || !near(us[0].Start, 300*time.Millisecond, 20*time.Millisecond) || !near(us[0].Duration(), time.Second, 20*time.Millisecond) {
		t.Fatalf("flush gave %+v", us)
	}

	// Flushing again, or flushing silence, emits nothing.
	seg := NewSegmenter(SegmenterConfig{})
	ev := seg.Write(nil, a.s)
	ev = seg.Flush(ev)
	ev = seg.Flush(ev)
	ev = seg.Write(ev, newAudio().silence(time.Second).s)
	ev = seg.Flush(ev)
	if n := len(utterances(ev)); n != 1 {
		t.Errorf("%d utterances after repeated flushes", n)
	}
}

func TestSegmenterEndpointing(t *testing.T) {
	a := newAudio().silence(500 * time.Millisecond).tone(500 * time.Millisecond).silence(300 * time.Millisecond).tone(500 * time.Millisecond).silence(time.Second)
	for _, tt := range []struct {
		endpointing time.Duration
		want        int
	}{{0, 1}, {200 * time.Millisecond, 2}, {800 * time.Millisecond, 1}} {
		us := utterances(segmentAll(SegmenterConfig{Endpointing: tt.endpointing}, a.s, 160, true))
		if len(us) != tt.want {
			t.Errorf("endpointing %v: %d utterances, want %d", tt.endpointing, len(us), tt.want)
		}
		// Utterances never overlap, so no audio is transcribed twice.
		for i := 1; i < len(us); i++ {
			if us[i].Start < us[i-1].Start+us[i-1].Duration() {
				t.Errorf("endpointing %v: utterance %d overlaps the previous one", tt.endpointing, i)
			}
		}
	}
}

func TestSegmenterMaxUtterance(t *testing.T) {
	a := newAudio().silence(time.Second).speechLike(40 * time.Second)
	// Speech ends 120 ms before the bursts do; the utterances span it with
	// 200 ms of pre-roll and post-roll.
	want := time.Duration(len(a.s))*time.Second/16000 - 120*time.Millisecond + 200*time.Millisecond - 800*time.Millisecond
	a.silence(time.Second)
	us := utterances(segmentAll(SegmenterConfig{}, a.s, 1600, true))
	if len(us) != 2 {
		t.Fatalf("%d utterances, want 2", len(us))
	}
	ev := segmentAll(SegmenterConfig{}, a.s, 1600, true)
	var cuts []bool
	for _, e := range ev {
		if e.Kind == SegmentUtterance {
			cuts = append(cuts, e.Cut)
		}
	}
	if !slices.Equal(cuts, []bool{true, false}) {
		t.Errorf("Cut flags %v, want [true false]", cuts)
	}
	if d := us[0].Duration(); d > 30*time.Second || d < 25*time.Second {
		t.Errorf("first utterance lasts %v, want just under 30s", d)
	}
	// The cut lands in a dip (the quiet 120 ms between bursts), not in a
	// burst, and the two utterances share 200 ms around it.
	if ov := us[0].Start + us[0].Duration() - us[1].Start; ov != 200*time.Millisecond {
		t.Errorf("utterances overlap by %v at the cut, want 200ms", ov)
	}
	cutAt := us[1].Start + 100*time.Millisecond
	i := int(cutAt.Seconds() * 16000)
	if r := rms(a.s[i-80 : i+80]); r > 200 {
		t.Errorf("cut at %v is in speech (rms %v)", cutAt, r)
	}
	total := us[0].Duration() + us[1].Duration() - 200*time.Millisecond
	if !near(total, want, 20*time.Millisecond) {
		t.Errorf("utterances cover %v, want %v", total, want)
	}
}

// TestSegmenterCutsInQuietStretch: a forced cut goes to the middle of the
// quietest stretch of the last seconds, not after the single quietest
// frame (here a 10 ms dropout inside a sound, as the closure of a stop
// consonant is), and the audio around it is in both utterances.
func TestSegmenterCutsInQuietStretch(t *testing.T) {
	// Syllables with no quiet between them: 250 ms bursts joined by 60 ms
	// of the same sound 20 dB down.
	a := newAudio().silence(time.Second)
	syllables := func(until time.Duration) {
		for time.Duration(len(a.s))*time.Second/16000 < until {
			a.tone(250 * time.Millisecond)
			for i := len(a.s) - 960; i < len(a.s); i++ {
				a.s[i] /= 10
			}
		}
		a.s = a.s[:int(until.Seconds()*16000)]
	}
	syllables(26700 * time.Millisecond)
	// A quiet stretch shorter than a pause (endpointing is 500 ms),
	// 26.7–27.1 s, then a dropout of digital silence at 29.0 s.
	a.silence(400 * time.Millisecond)
	syllables(29 * time.Second)
	a.s = append(a.s, make([]int16, 160)...)
	syllables(34 * time.Second)
	a.silence(time.Second)
	if got := time.Duration(len(a.s)) * time.Second / 16000; got < 34*time.Second {
		t.Fatalf("test audio is %v", got)
	}
	us := utterances(segmentAll(SegmenterConfig{}, a.s, 1600, true))
	if len(us) != 2 {
		t.Fatalf("%d utterances, want 2", len(us))
	}
	end0 := us[0].Start + us[0].Duration()
	if ov := end0 - us[1].Start; ov != 200*time.Millisecond {
		t.Errorf("utterances overlap by %v at the cut, want 200ms", ov)
	}
	cutAt := us[1].Start + 100*time.Millisecond
	if !near(cutAt, 26900*time.Millisecond, 30*time.Millisecond) {
		t.Errorf("cut at %v, want the middle of the quiet stretch, 26.9s", cutAt)
	}
	// The overlap is the same audio in both.
	n := 200 * 16 // samples in 200 ms at 16 kHz
	tail := us[0].Samples[len(us[0].Samples)-n:]
	head := us[1].Samples[:n]
	if !slices.Equal(tail, head) {
		t.Errorf("the 200 ms at the end of the first utterance are not the start of the second")
	}
	i := int(us[1].Start.Seconds() * 16000)
	if !slices.Equal(head, a.s[i:i+n]) {
		t.Errorf("the overlap is not the input audio at %v", us[1].Start)
	}
}

func TestSegmenterAdaptsToNoise(t *testing.T) {
	// A steady fan noise at -35 dBFS, louder than the initial floor, must not
	// become one endless utterance; a voice well above it is still heard.
	rng := rand.New(rand.NewPCG(3, 4))
	var s []int16
	noise := func(d time.Duration) {
		for range int(d.Seconds() * 16000) {
			s = append(s, int16(rng.NormFloat64()*600))
		}
	}
	noise(8 * time.Second)
	s = append(s, newAudio().tone(time.Second).s...)
	noise(2 * time.Second)
	seg := NewSegmenter(SegmenterConfig{})
	ev := seg.Write(nil, s)
	us := utterances(ev)
	if len(us) == 0 {
		t.Fatal("voice over noise not heard")
	}
	last := us[len(us)-1]
	if !near(last.Start, 7800*time.Millisecond, 50*time.Millisecond) {
		t.Errorf("last utterance starts at %v, want 7.8s (noise became speech?)", last.Start)
	}
	var inNoise time.Duration
	for _, u := range us[:len(us)-1] {
		inNoise += u.Duration()
	}
	if inNoise > 6*time.Second {
		t.Errorf("%v of steady noise taken for speech", inNoise)
	}
}

// speechWAV returns the committed espeak-ng fixture at 16 kHz
// (testdata/make_speech.sh), so real speech is tested even where espeak-ng
// is not installed.
func speechWAV(t testing.TB) []int16 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "speech.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readMono16k(t, f)
}

func readMono16k(t testing.TB, r interface{ Read([]byte) (int, error) }) []int16 {
	t.Helper()
	format, pcm, err := ReadWAV(r)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := DecodeLinear16(pcm)
	s = MixToMono(s, format.Channels)
	rs, err := NewResampler(format.SampleRate, 16000)
	if err != nil {
		t.Fatal(err)
	}
	return rs.Flush(rs.Write(nil, s))
}

func TestSegmenterRealSpeech(t *testing.T) {
	// The fixture is two phrases with a 900 ms break: two utterances.
	s := speechWAV(t)
	us := utterances(segmentAll(SegmenterConfig{}, s, 320, true))
	if len(us) != 2 {
		t.Fatalf("fixture: %d utterances, want 2", len(us))
	}
	for _, u := range us {
		if u.Duration() < 800*time.Millisecond {
			t.Errorf("utterance of %v is too short for a phrase", u.Duration())
		}
	}

	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed; fixture checked only")
	}
	out := filepath.Join(t.TempDir(), "three.wav")
	cmd := exec.Command("espeak-ng", "-m", "-w", out,
		`Good morning. <break time="1s"/> How long have you had the pain? <break time="700ms"/> About two weeks.`)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	us = utterances(segmentAll(SegmenterConfig{}, readMono16k(t, f), 1000, true))
	if len(us) != 3 {
		t.Errorf("espeak: %d utterances, want 3", len(us))
	}
}

// TestSegmenterLevelsAsSums checks the move of the detector's levels from
// dB to sums of squares: a frame's sum reaches leastSum(db) exactly when
// its energyDB reaches db, at the sums either side of the boundary and at
// random ones, for the levels the segmenter uses and beyond; and the
// initial window is exactly initFloorDB.
func TestSegmenterLevelsAsSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, rate := range []int{8000, 16000, 44100, 48000} {
		s := NewSegmenter(SegmenterConfig{SampleRate: rate})
		if got := s.energyDB(s.floorWin[0]); got != initFloorDB {
			t.Errorf("rate %d: initial floor is %v dB, want exactly %v", rate, got, float64(initFloorDB))
		}
		maxSum := uint64(s.frameLen) * 32768 * 32768
		levels := []float64{0, absMinDB, initFloorDB + offMarginDB, initFloorDB + onMarginDB, 90, 120, s.energyDB(maxSum)}
		for range 300 {
			floor := s.energyDB(rng.Uint64N(maxSum / 1000)) // quiet to loud floors
			levels = append(levels, floor+offMarginDB, floor+onMarginDB)
		}
		for _, db := range levels {
			n := s.leastSum(db)
			sums := []uint64{n, n + 1, rng.Uint64N(maxSum + 1)}
			if n > 0 {
				sums = append(sums, n-1)
			}
			for _, sum := range sums {
				if sum > maxSum {
					continue
				}
				if got, want := sum >= n, s.energyDB(sum) >= db; got != want {
					t.Fatalf("rate %d, %v dB: sum %d >= leastSum %d is %v, but energyDB %v >= %v is %v",
						rate, db, sum, n, got, s.energyDB(sum), db, want)
				}
			}
		}
		if n := s.leastSum(120); n != maxSum+1 {
			t.Errorf("rate %d: leastSum(120 dB) = %d, want one more than the loudest sum %d", rate, n, maxSum)
		}
	}
}

// TestSumSquares checks the unrolled sum against the plain one, at every
// length around a multiple of four and at full scale.
func TestSumSquares(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for n := range 12 {
		f := make([]int16, n)
		for i := range f {
			f[i] = int16(rng.Uint32())
		}
		if n > 1 {
			f[0], f[n-1] = math.MinInt16, math.MaxInt16
		}
		var want uint64
		for _, v := range f {
			want += uint64(int64(v) * int64(v))
		}
		if got := sumSquares(f); got != want {
			t.Errorf("%d samples: sumSquares = %d, want %d", n, got, want)
		}
	}
}
