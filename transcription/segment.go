package transcription

import (
	"math"
	"time"
)

// SegmenterConfig tunes a Segmenter. Zero fields take the defaults, which
// suit conversational speech at close microphone range.
type SegmenterConfig struct {
	// SampleRate of the samples written; 0 means EngineSampleRate.
	SampleRate int
	// Endpointing is the pause that ends an utterance; 0 means 500 ms.
	// Shorter pauses are heard as gaps between words.
	Endpointing time.Duration
	// MaxUtterance bounds an utterance; 0 means 30 s, the most that Whisper
	// takes in one window. Speech without a pause is cut in the middle of
	// the quietest stretch of its last few seconds, the two utterances
	// sharing 200 ms of audio around the cut.
	MaxUtterance time.Duration
	// MinSpeech is how much voiced audio a burst needs to count as speech;
	// 0 means 100 ms, enough to ignore clicks, coughs into the mic and
	// keyboard taps without losing a short "yes".
	MinSpeech time.Duration
	// PreRoll and PostRoll widen an utterance beyond its voiced frames, so
	// soft onsets and trailing consonants are not clipped; 0 means 200 ms
	// each. PostRoll never exceeds Endpointing.
	PreRoll, PostRoll time.Duration
	// Buffers, if set, supplies the chunks the audio is held in, which go
	// back to it as they are let go, and the Samples of the utterances
	// emitted and of Pending. Those Samples are then the caller's to give
	// back with Buffers.Put once nothing reads them, or to keep. Nil
	// allocates them all.
	Buffers *Buffers
}

// SegmentKind says what a SegmentEvent reports.
type SegmentKind int

// The events a Segmenter emits.
const (
	// SegmentSpeechStarted marks the first voiced frame of new speech.
	SegmentSpeechStarted SegmentKind = iota + 1
	// SegmentUtterance carries a complete utterance.
	SegmentUtterance
)

// SegmentEvent is what a Segmenter noticed in the audio.
type SegmentEvent struct {
	Kind SegmentKind
	// At is where the event happened on the segmenter's timeline: the
	// start of speech for SegmentSpeechStarted, the end of the utterance's
	// audio for SegmentUtterance.
	At time.Duration
	// Utterance is set for SegmentUtterance: Index, Start, Samples and
	// SampleRate are filled in; Prompt and Language are the caller's.
	Utterance Utterance
	// Cut is set on an utterance ended at MaxUtterance while speech went
	// on, rather than at a pause or by Flush.
	Cut bool
}

// Segmenter cuts a stream of audio into utterances at pauses, so that only
// speech is sent to the engine and each request is a natural unit of
// speech. It is an energy detector: frames of 10 ms are voiced when they
// stand well above an adaptive noise floor (the quietest frame of the last
// few seconds), with hysteresis so that the tail of a word keeps the
// utterance open. Energy is crude next to a trained VAD, but it has no
// model to ship, costs nothing, and a pause in a consultation is usually
// plain enough.
//
// The levels are set in dB (see energyDB), but each frame's energy is kept
// as its integer sum of squares and compared with the least sum that
// reaches the level in dB, worked out again only when the floor moves: dB
// grow with the sum, so every decision is the one the levels in dB give,
// without a logarithm per frame.
//
// A Segmenter is not safe for concurrent use.
type Segmenter struct {
	rate, frameLen                                           int
	endFrames, maxFrames, minFrames, preFrames, postFrames   int
	searchFrames                                             int
	held                                                     heldFrames // frames from bufStart on (and a few before), then a partial frame
	written                                                  int        // samples given
	bufStart                                                 int
	frame                                                    int      // index of the next frame
	energies                                                 []uint64 // sums of squares of the utterance's frames
	floorWin                                                 []uint64 // ring of recent frames' sums of squares
	floorPos                                                 int
	floorMin                                                 uint64 // of floorWin, when floorOK
	floorOK                                                  bool
	onSum, offSum                                            uint64 // what thresholds returns for a floor of threshFor, when threshOK
	threshFor                                                uint64
	threshOK                                                 bool
	state                                                    segState
	candStart, voiced, lastVoiced, uttStart, minStart, index int
}

type segState int

const (
	segIdle segState = iota
	segCandidate
	segSpeaking
)

// Detector levels, in dB of the mean square of a frame of samples (full
// scale is about 90 dB).
const (
	absMinDB    = 30   // never speech below about -60 dBFS
	onMarginDB  = 12   // to start speech, a frame must beat the floor by this
	offMarginDB = 6    // to continue it, by this
	initFloorDB = 40   // assumed floor until real frames fill the window
	floorWindow = 5.0  // seconds of frames the floor is the minimum of
	searchMax   = 5.0  // seconds before MaxUtterance searched for a cut
	frameDur    = 0.01 // seconds per analysis frame
)

// NewSegmenter returns a Segmenter; see SegmenterConfig for the defaults.
func NewSegmenter(cfg SegmenterConfig) *Segmenter {
	if cfg.SampleRate <= 0 {
		cfg.SampleRate = EngineSampleRate
	}
	if cfg.Endpointing <= 0 {
		cfg.Endpointing = 500 * time.Millisecond
	}
	if cfg.MaxUtterance <= 0 {
		cfg.MaxUtterance = 30 * time.Second
	}
	if cfg.MinSpeech <= 0 {
		cfg.MinSpeech = 100 * time.Millisecond
	}
	if cfg.PreRoll <= 0 {
		cfg.PreRoll = 200 * time.Millisecond
	}
	if cfg.PostRoll <= 0 {
		cfg.PostRoll = 200 * time.Millisecond
	}
	cfg.PostRoll = min(cfg.PostRoll, cfg.Endpointing)
	frames := func(d time.Duration) int { return max(1, int(math.Round(d.Seconds()/frameDur))) }
	s := &Segmenter{
		rate:       cfg.SampleRate,
		frameLen:   max(1, int(float64(cfg.SampleRate)*frameDur)),
		endFrames:  frames(cfg.Endpointing),
		maxFrames:  frames(cfg.MaxUtterance),
		minFrames:  frames(cfg.MinSpeech),
		preFrames:  frames(cfg.PreRoll),
		postFrames: frames(cfg.PostRoll),
		floorWin:   make([]uint64, int(floorWindow/frameDur)),
	}
	s.held.frameLen = s.frameLen
	s.held.bufs = cfg.Buffers
	s.searchFrames = min(int(searchMax/frameDur), s.maxFrames/3)
	// The window starts full of frames at exactly initFloorDB: a mean
	// square of 10^4 - 1 (see energyDB).
	initSum := uint64(s.frameLen) * (1e4 - 1)
	for i := range s.floorWin {
		s.floorWin[i] = initSum
	}
	return s
}

// Write feeds samples and appends what they completed to dst. The samples
// are copied once, into the audio held, and analysed there.
func (s *Segmenter) Write(dst []SegmentEvent, samples []int16) []SegmentEvent {
	for len(samples) > 0 {
		c := s.held.tail(s.frame)
		n := min(cap(*c)-len(*c), len(samples))
		*c = append(*c, samples[:n]...)
		samples = samples[n:]
		s.written += n
		dst = s.analyse(dst)
	}
	return dst
}

// writeLinear16 is Write for little-endian linear16 bytes, decoded by dec
// (which keeps a split sample's first byte) straight into the audio held,
// so that no other copy of the samples is made. It returns the events and
// how many samples b completed.
func (s *Segmenter) writeLinear16(dst []SegmentEvent, dec *Linear16Decoder, b []byte) ([]SegmentEvent, int) {
	before := s.written
	for len(b) > 0 {
		c := s.held.tail(s.frame)
		n := len(*c)
		*c, b = dec.decodeAtMost(*c, b, cap(*c)-len(*c))
		s.written += len(*c) - n
		dst = s.analyse(dst)
	}
	return dst, s.written - before
}

// analyse steps through the frames held whole and not yet analysed. They
// are analysed where they are held, not copied first.
func (s *Segmenter) analyse(dst []SegmentEvent) []SegmentEvent {
	for s.held.holds(s.frame) {
		dst = s.step(dst, s.held.frame(s.frame))
	}
	return dst
}

// Flush ends the current utterance, if any, and appends it to dst: the
// client asked for what it said so far (Finalize) or the stream ended. A
// burst too short to count as speech is dropped.
func (s *Segmenter) Flush(dst []SegmentEvent) []SegmentEvent {
	if s.state == segSpeaking {
		dst = s.emit(dst, min(s.lastVoiced+1+s.postFrames, s.frame))
	}
	s.state = segIdle
	s.trim()
	return dst
}

// Pending returns a copy of the utterance still being spoken: from its start
// to its last voiced frame plus the post-roll (as far as heard), numbered as
// it will be when it ends. ok is false while no speech is in progress.
// Interim results are recognised from it; the final utterance is cut later
// and may end elsewhere, so nothing taken from Pending ever stands in for it.
// The copy is in a buffer from SegmenterConfig.Buffers, as an emitted
// utterance's is.
func (s *Segmenter) Pending() (u Utterance, ok bool) {
	end, ok := s.pendingEnd()
	if !ok {
		return Utterance{}, false
	}
	samples := s.held.copyFrames(s.uttStart, end)
	return Utterance{Index: s.index, Start: s.frameTime(s.uttStart), Samples: samples, SampleRate: s.rate}, true
}

// pendingEnd is the end frame of what Pending would return, without
// copying it.
func (s *Segmenter) pendingEnd() (end int, ok bool) {
	end = min(s.lastVoiced+1+s.postFrames, s.frame)
	if s.state != segSpeaking || end <= s.uttStart {
		return 0, false
	}
	return end, true
}

// pendingSpan is the start and end of what Pending would return, without
// copying it: the stream checks whether an interim is due first.
func (s *Segmenter) pendingSpan() (start, end time.Duration, ok bool) {
	e, ok := s.pendingEnd()
	if !ok {
		return 0, 0, false
	}
	return s.frameTime(s.uttStart), s.frameTime(e), true
}

// buffered is the bytes of audio the segmenter holds.
func (s *Segmenter) buffered() int { return 2 * s.held.samples() }

// release gives the audio held back to SegmenterConfig.Buffers; the
// Segmenter must not be used after.
func (s *Segmenter) release() { s.held.release() }

// Elapsed is how much audio the Segmenter has been given.
func (s *Segmenter) Elapsed() time.Duration {
	return s.dur(s.written)
}

func (s *Segmenter) dur(samples int) time.Duration {
	return time.Duration(samples) * time.Second / time.Duration(s.rate)
}

func (s *Segmenter) frameTime(f int) time.Duration { return s.dur(f * s.frameLen) }

// floor is the minimum sum of squares of the window. It is kept rather
// than recomputed per 10 ms frame: only when the minimum leaves the window
// is the window scanned again.
func (s *Segmenter) floor() uint64 {
	if !s.floorOK {
		s.floorMin = math.MaxUint64
		for _, e := range s.floorWin {
			s.floorMin = min(s.floorMin, e)
		}
		s.floorOK = true
	}
	return s.floorMin
}

// thresholds returns the least sums of squares that are voiced with the
// floor as it is: on to start speech, off to go on with it. A frame is
// voiced when its energyDB is at least absMinDB and at least the floor's
// plus the margin; these are those tests moved from dB to sums, worked out
// when the floor has moved (seldom: the floor is the quietest frame of
// seconds) rather than a logarithm taken per frame.
func (s *Segmenter) thresholds() (on, off uint64) {
	f := s.floor()
	if !s.threshOK || f != s.threshFor {
		floorDB := s.energyDB(f)
		s.onSum = s.leastSum(max(absMinDB, floorDB+onMarginDB))
		s.offSum = s.leastSum(max(absMinDB, floorDB+offMarginDB))
		s.threshFor, s.threshOK = f, true
	}
	return s.onSum, s.offSum
}

// energyDB is the level of a frame whose samples' squares sum to sum, in
// dB of their mean square (+1, so that digital silence is 0 dB).
func (s *Segmenter) energyDB(sum uint64) float64 {
	return 10 * math.Log10(float64(sum)/float64(s.frameLen)+1)
}

// leastSum is the least sum of squares whose energyDB reaches db. energyDB
// grows strictly with the sum (one more in the sum moves it by far more
// than float64 rounding), so energyDB(sum) >= db exactly when
// sum >= leastSum(db). The inverse gives an estimate within a step or two,
// which is then corrected against energyDB itself, so the answer is exact.
// A level no frame reaches gives one more than the loudest possible sum.
func (s *Segmenter) leastSum(db float64) uint64 {
	maxSum := uint64(s.frameLen) * 32768 * 32768
	est := math.Ceil((math.Pow(10, db/10) - 1) * float64(s.frameLen))
	n := uint64(min(max(est, 0), float64(maxSum)))
	for n > 0 && s.energyDB(n-1) >= db {
		n--
	}
	for n <= maxSum && s.energyDB(n) < db {
		n++
	}
	return n
}

// pushFloor puts a frame's sum of squares into the window in place of the
// oldest.
func (s *Segmenter) pushFloor(e uint64) {
	old := s.floorWin[s.floorPos]
	s.floorWin[s.floorPos] = e
	s.floorPos = (s.floorPos + 1) % len(s.floorWin)
	switch {
	case !s.floorOK:
	case e <= s.floorMin:
		s.floorMin = e
	case old == s.floorMin:
		s.floorOK = false // the minimum left the window
	}
}

func (s *Segmenter) step(dst []SegmentEvent, frame []int16) []SegmentEvent {
	e := sumSquares(frame)
	on, off := s.thresholds() // of the floor before this frame
	s.pushFloor(e)

	fi := s.frame
	s.frame++
	if s.state == segSpeaking {
		s.energies = append(s.energies, e)
	}

	switch s.state {
	case segIdle:
		if e >= on {
			s.state, s.candStart, s.voiced, s.lastVoiced = segCandidate, fi, 1, fi
			break
		}
		s.trim()
	case segCandidate:
		if e >= off {
			s.voiced++
			s.lastVoiced = fi
			if s.voiced >= s.minFrames {
				s.state = segSpeaking
				s.uttStart = max(s.candStart-s.preFrames, s.bufStart, s.minStart)
				s.energies = s.energies[:0]
				for f := s.uttStart; f <= fi; f++ {
					s.energies = append(s.energies, s.frameEnergy(f))
				}
				dst = append(dst, SegmentEvent{Kind: SegmentSpeechStarted, At: s.frameTime(s.candStart)})
			}
		} else if fi-s.lastVoiced >= min(s.endFrames, 20) {
			s.state = segIdle
			s.trim()
		}
	case segSpeaking:
		if e >= off {
			s.lastVoiced = fi
		} else if fi-s.lastVoiced >= s.endFrames {
			dst = s.emit(dst, s.lastVoiced+1+s.postFrames)
			s.state = segIdle
			s.trim()
			break
		}
		if s.frame-s.uttStart >= s.maxFrames {
			dst = s.cut(dst)
		}
	}
	return dst
}

// frameEnergy recomputes the sum of squares of a buffered frame (used once
// per utterance, for the frames before speech was confirmed).
func (s *Segmenter) frameEnergy(f int) uint64 {
	return sumSquares(s.held.frame(f))
}

// sumSquares is a frame's energy: the sum of its samples' squares, as an
// integer (each square is at most 2^30; a frame's sum stays far below 2^53,
// so it converts to float64 exactly in energyDB).
func sumSquares(frame []int16) uint64 {
	// Written for speed (most of the segmenter's time is here): four
	// samples a turn into four sums, so that the additions need not wait on
	// one another.
	var s0, s1, s2, s3 uint64
	for len(frame) >= 4 {
		f := frame[:4:4]
		s0 += uint64(int64(f[0]) * int64(f[0]))
		s1 += uint64(int64(f[1]) * int64(f[1]))
		s2 += uint64(int64(f[2]) * int64(f[2]))
		s3 += uint64(int64(f[3]) * int64(f[3]))
		frame = frame[4:]
	}
	for _, v := range frame {
		s0 += uint64(int64(v) * int64(v))
	}
	return s0 + s1 + s2 + s3
}

// Forced cuts: where an utterance that reached MaxUtterance while speech
// went on is cut, and how much audio the two utterances share.
const (
	// smoothFrames is the width of the moving average (100 ms) the cut is
	// chosen on: a single quiet frame is the closure of a stop consonant
	// or a dropout inside a word as often as a gap between words, while a
	// quiet stretch about a syllable long is a gap.
	smoothFrames = 10
	// overlapFrames (200 ms) of audio around a forced cut go to both
	// utterances, half on each side of the cut, so that a word the cut
	// lands on is heard whole by at least one of them; the word then heard
	// twice is taken out at the seam (see dedupeSeam).
	overlapFrames = 20
)

// cut ends an over-long utterance at the middle of the quietest smoothed
// stretch of its last searchFrames, overlapFrames/2 past it, and keeps
// speaking from overlapFrames/2 before it.
func (s *Segmenter) cut(dst []SegmentEvent) []SegmentEvent {
	half := overlapFrames / 2
	at := s.uttStart + cutPoint(s.energies, s.searchFrames, half)
	before := len(dst)
	dst = s.emit(dst, at+half)
	if len(dst) > before {
		dst[before].Cut = true
	}
	next := max(at-half, s.uttStart)
	s.energies = append(s.energies[:0], s.energies[next-s.uttStart:]...)
	s.uttStart = next
	s.trim()
	return dst
}

// cutPoint is where to cut an utterance whose frames have the energies
// given: the middle of the quietest stretch of the moving average of
// smoothFrames frames, searched in the last search frames and at least
// margin frames from either end (so the overlap lies within the audio).
// The cut is before the frame returned.
func cutPoint(energies []uint64, search, margin int) int {
	n := len(energies)
	lo, hi := max(margin+1, n-search), n-margin // the cut is in [lo, hi]
	if lo > hi {
		return max(1, min(n-1, hi))
	}
	// smoothed[i] is the mean energy of the frames centred on lo+i
	// (fewer at the ends of the utterance): the boundary before frame lo+i
	// is scored by the frames around it.
	w := smoothFrames / 2
	smoothed := make([]uint64, hi-lo+1)
	best := 0
	for i := range smoothed {
		f := lo + i
		var sum uint64
		a, b := max(0, f-w), min(n, f+w) // w frames each side of the boundary
		for _, e := range energies[a:b] {
			sum += e
		}
		smoothed[i] = sum / uint64(b-a)
		if smoothed[i] < smoothed[best] {
			best = i
		}
	}
	// The stretch is the run of boundaries around the quietest whose
	// smoothed energy stays near it; the cut is its middle.
	limit := smoothed[best] + smoothed[best]/2 + 1 // within about 2 dB
	first, last := best, best
	for first > 0 && smoothed[first-1] <= limit {
		first--
	}
	for last < len(smoothed)-1 && smoothed[last+1] <= limit {
		last++
	}
	return lo + (first+last+1)/2
}

// emit appends the utterance from uttStart up to frame end (exclusive).
func (s *Segmenter) emit(dst []SegmentEvent, end int) []SegmentEvent {
	end = min(end, s.frame)
	if end <= s.uttStart {
		return dst // nothing voiced since a forced cut
	}
	samples := s.held.copyFrames(s.uttStart, end)
	u := Utterance{Index: s.index, Start: s.frameTime(s.uttStart), Samples: samples, SampleRate: s.rate}
	s.index++
	s.minStart = end
	return append(dst, SegmentEvent{Kind: SegmentUtterance, At: s.frameTime(end), Utterance: u})
}

// trim drops buffered audio no utterance can need: while idle, what is
// older than the pre-roll; while speaking, what precedes the utterance.
func (s *Segmenter) trim() {
	var keep int
	switch s.state {
	case segIdle:
		keep = max(s.frame-s.preFrames, s.minStart, s.bufStart)
		s.energies = s.energies[:0]
	case segSpeaking:
		keep = max(s.uttStart, s.bufStart)
	default:
		return
	}
	// Audio before keep is dropped for good: its chunks are let go once
	// wholly before it, so nothing is moved.
	if keep > s.bufStart {
		s.bufStart = keep
		s.held.dropBefore(keep)
	}
}

// heldFrames holds consecutive frames in fixed chunks of chunkFrames
// frames, the last frame possibly still partial. An utterance grows by
// whole chunks instead of by reallocating and copying all it holds (most
// of the segmenter's cost when it was one slice), and dropping audio lets
// go of whole chunks without moving the rest. Chunks come from bufs and go
// back to it, where any stream's segmenter reuses them: a segmenter keeping
// spare chunks of its own would allocate its every utterance's chunks
// afresh unless it kept as many as its longest utterance needs, which
// costs memory per session.
type heldFrames struct {
	frameLen int
	bufs     *Buffers
	chunks   [][]int16 // chunks[0] starts at frame base; each of capacity chunkLen
	base     int
}

const chunkFrames = 50 // 0.5 s per chunk

// chunkLen is the samples in a chunk, the unit buffers are asked for in.
func (h *heldFrames) chunkLen() int { return chunkFrames * h.frameLen }

// tail returns the chunk that samples from frame f on are appended to, no
// further than its capacity: the last, or a new one when that is full or
// none is held (f is where the held frames start then). The pointer is good
// until the chunks held change.
func (h *heldFrames) tail(f int) *[]int16 {
	n := len(h.chunks)
	if n > 0 && len(h.chunks[n-1]) < cap(h.chunks[n-1]) {
		return &h.chunks[n-1]
	}
	if n == 0 {
		h.base = f
	}
	h.chunks = append(h.chunks, h.bufs.chunk(h.chunkLen()))
	return &h.chunks[n]
}

// holds reports whether the whole of frame f is held.
func (h *heldFrames) holds(f int) bool {
	rel := f - h.base
	i := rel / chunkFrames
	return rel >= 0 && i < len(h.chunks) && len(h.chunks[i]) >= (rel%chunkFrames+1)*h.frameLen
}

// frame returns held frame f.
func (h *heldFrames) frame(f int) []int16 {
	rel := f - h.base
	off := rel % chunkFrames * h.frameLen
	return h.chunks[rel/chunkFrames][off : off+h.frameLen]
}

// copyFrames returns a copy of frames from up to to (exclusive), in a
// buffer from bufs (of whole chunks, see Buffers.get).
func (h *heldFrames) copyFrames(from, to int) []int16 {
	out := h.bufs.get((to-from)*h.frameLen, h.chunkLen())
	for f := from; f < to; {
		rel := f - h.base
		off := rel % chunkFrames
		n := min(chunkFrames-off, to-f)
		out = append(out, h.chunks[rel/chunkFrames][off*h.frameLen:(off+n)*h.frameLen]...)
		f += n
	}
	return out
}

// dropBefore lets go of the chunks wholly before frame keep.
func (h *heldFrames) dropBefore(keep int) {
	i := 0
	for i < len(h.chunks) && h.base+chunkFrames <= keep {
		h.bufs.Put(h.chunks[i])
		h.chunks[i] = nil
		h.base += chunkFrames
		i++
	}
	if i > 0 {
		h.chunks = append(h.chunks[:0], h.chunks[i:]...)
	}
}

// samples is the capacity held, in samples.
func (h *heldFrames) samples() int {
	n := 0
	for _, c := range h.chunks {
		n += cap(c)
	}
	return n
}

// release gives back every chunk held: nothing more will be written.
func (h *heldFrames) release() {
	for i, c := range h.chunks {
		h.bufs.Put(c)
		h.chunks[i] = nil
	}
	h.chunks = h.chunks[:0]
}
