package transcription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// StreamConfig configures one session's Stream.
type StreamConfig struct {
	// Engine recognises the utterances; it is shared across sessions.
	Engine Engine
	// SampleRate is the rate of the linear16 mono audio given to Write,
	// MinSampleRate..MaxSampleRate.
	SampleRate int
	// Language is passed to the engine with every utterance.
	Language string
	// Keyterms are passed to the engine with every utterance.
	Keyterms []string
	// Endpointing is the silence that ends an utterance; 0 means 500 ms.
	Endpointing time.Duration
	// MaxUtterance bounds an utterance without pauses; 0 means 30 s.
	MaxUtterance time.Duration
	// Logger receives ids and counts only, never text; nil discards.
	Logger *slog.Logger

	// Concurrency is how many utterances of this stream are recognised at
	// once; 0 means 2. More hides engine latency on fast talkers; fewer
	// gives every utterance the previous one's text as its prompt.
	Concurrency int
	// CallTimeout bounds one engine call; 0 means 60 s.
	CallTimeout time.Duration
	// Attempts is how many times an utterance is tried before it becomes a
	// gap; 0 means 4. Only transient errors (see IsTransient) are retried.
	Attempts int
	// Backoff is the delay before the first retry, doubling (with jitter)
	// after each; 0 means 500 ms. A Retry-After from the engine wins when
	// longer.
	Backoff time.Duration

	// LateRetries is how many more times an utterance that became a gap is
	// tried while the session goes on, LateRetryDelay after the gap and
	// doubling (with jitter) after each; whatever is still a gap gets one
	// last try when the stream is closed. A success is delivered as a
	// Result with Replaces set. 0 means 3; negative turns late retries off,
	// the last one included. An engine outage of a minute then costs the
	// note nothing, only the live transcript shows the gap meanwhile.
	LateRetries int
	// LateRetryDelay is the wait before the first late retry; 0 means 15 s.
	LateRetryDelay time.Duration

	// Interim asks for interim results: while an utterance is still being
	// spoken, the audio so far is recognised every InterimInterval and
	// delivered as an EventInterim. Each interim call sends the whole
	// utterance so far to the engine again, so with a paid engine interim
	// results cost roughly (utterance length / InterimInterval / 2) times
	// the audio of the final call; at most one interim call per stream is
	// in flight, and a due interim is skipped while one is.
	Interim bool
	// InterimInterval is how much new speech is heard between interim
	// results; 0 means 1 s.
	InterimInterval time.Duration

	// Buffers, shared by every stream of a server, recycles the audio the
	// stream holds: the segmenter's chunks, and each utterance's samples
	// once the engine is done with them (the last recognition, interim
	// call or late retry that reads them has returned). Nil allocates them
	// afresh, which a server running many streams should not do: the
	// copies are most of the garbage it would make.
	Buffers *Buffers
}

// EventType says what an Event reports.
type EventType int

// The events of a Stream, in the vocabulary of Deepgram's live API.
const (
	// EventSpeechStarted: speech began at Event.At. It is sent as soon as
	// it is detected, ahead of the results of earlier utterances still
	// being recognised.
	EventSpeechStarted EventType = iota + 1
	// EventResult: Event.Result is the final transcript of an utterance.
	// Results arrive in utterance order.
	EventResult
	// EventUtteranceEnd follows the Result of an utterance that ended at a
	// pause or by Finalize/Close (not one cut at MaxUtterance); Event.At is
	// the end of its last word, or of its audio if it has no words.
	EventUtteranceEnd
	// EventInterim: Event.Result is a provisional transcript of the
	// utterance still being spoken (StreamConfig.Interim). It arrives after
	// the Result of the utterance before and before its own Result, which
	// replaces it; an interim whose utterance has already been delivered is
	// dropped. Interim text never becomes part of a final Result.
	EventInterim
)

func (t EventType) String() string {
	switch t {
	case EventSpeechStarted:
		return "SpeechStarted"
	case EventResult:
		return "Result"
	case EventUtteranceEnd:
		return "UtteranceEnd"
	case EventInterim:
		return "Interim"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is what a Stream tells its session.
type Event struct {
	Type   EventType
	At     time.Duration // on the session's input timeline
	Result Result        // for EventResult and EventInterim
}

// Result is the transcript of one utterance: final for EventResult,
// provisional for EventInterim. A Finalize with no speech pending is
// answered by an empty final Result with FromFinalize set (no words,
// Duration 0, Start at the end of the audio so far), so a client waiting
// for Finalize's confirmation is not left waiting.
type Result struct {
	Index    int
	Start    time.Duration // on the session's input timeline
	Duration time.Duration
	// Transcript's Words are timed on the session timeline; they are
	// estimated (see EstimateWords) when the engine gives no timings.
	Transcript Transcript
	// FromFinalize is set when Finalize or Close cut the utterance short.
	FromFinalize bool
	// SpeechFinal is set when the utterance ended at a pause or by
	// Finalize/Close, and clear when it was cut at MaxUtterance mid-speech.
	SpeechFinal bool
	// Gap is set when the engine failed: Transcript.Text is then a marker
	// such as "[inaudible 00:12–00:19: transcription failed]", never
	// invented words, so a reader of the note sees what is missing. The
	// gap's audio is kept and tried again later (StreamConfig.LateRetries).
	Gap bool
	// Replaces is set on the Result of a late retry that succeeded: it
	// stands for the gap delivered earlier with the same Index (same Start
	// and Duration), which it replaces. It may arrive after Results of
	// later utterances, at most once per gap, never for an utterance that
	// was not a gap, and is not followed by an UtteranceEnd.
	Replaces bool
}

// ErrStreamClosed is returned by Write and Finalize after Close.
var ErrStreamClosed = errors.New("transcription: stream is closed")

// Stream is the transcription pipeline of one streaming session: it decodes
// linear16 audio, resamples it to EngineSampleRate, cuts it into
// utterances at pauses and has each recognised by the Engine, delivering
// events in order on Events.
//
// Buffering policy: Write never waits for the engine or for the consumer
// of Events. Utterances waiting for the engine and events waiting for the
// consumer queue in memory without bound — nothing a clinician said is
// dropped, and both queues are small next to the audio the gateway already
// keeps (an event is a few hundred bytes; an utterance is at most 30 s of
// 16 kHz audio, about 1 MB). A consumer must read Events until it is
// closed, or cancel the context given to NewStream to abandon the stream.
//
// Write, Finalize and Close may be called from any goroutine.
type Stream struct {
	cfg    StreamConfig
	ctx    context.Context
	log    *slog.Logger
	events chan Event

	mu     sync.Mutex // guards the pipeline below, and serialises Write/Finalize/Close
	closed bool
	dec    Linear16Decoder
	rs     *Resampler
	seg    *Segmenter
	pcm    []int16
	engIn  []int16
	segEv  []SegmentEvent
	nUtt   int // jobs submitted: utterances, and empty Finalize answers

	interimAt     time.Duration // segmenter time of the last interim started
	interimBusy   atomic.Bool
	interimWG     sync.WaitGroup
	interimCancel context.CancelFunc
	interimCtx    context.Context

	received atomic.Int64 // input samples
	busy     atomic.Int64 // bytes of audio of the utterances being recognised
	backlog  atomic.Int64 // samples of the utterances queued or in recognition

	jmu     sync.Mutex // guards the recognition queue
	jobs    []job
	running int // workers
	workers sync.WaitGroup

	qmu        sync.Mutex // guards the delivery state
	ready      []Event
	done       map[int]Result // by job sequence number
	texts      map[int]string // recognised text by job sequence, for prompts
	next       int            // sequence of the next Result to deliver
	total      int            // jobs in all, once closed; -1 before
	replaced   []seqResult    // late retries that succeeded, not yet delivered
	interim    *Result        // the latest interim not yet delivered
	interSeq   int            // the job sequence interim belongs to
	lastResult Result         // the last Result delivered in order
	wake       chan struct{}
	finished   chan struct{} // closed when the dispatcher has closed events

	// Late retries of gaps: one goroutine per gap waits out its delays,
	// and closing tells it to make its last attempt now.
	late     sync.WaitGroup
	closing  chan struct{}
	gapBytes atomic.Int64 // audio of gaps kept for late retries
}

// seqResult is a Result with the job sequence it belongs to.
type seqResult struct {
	seq int
	r   Result
}

// NewStream starts a Stream. Cancelling ctx abandons it: engine calls stop
// and Events is closed without the results still pending.
func NewStream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	if cfg.Engine == nil {
		return nil, errors.New("transcription: StreamConfig.Engine is nil")
	}
	rs, err := NewResampler(cfg.SampleRate, EngineSampleRate)
	if err != nil {
		return nil, err
	}
	if cfg.Endpointing < 0 || cfg.MaxUtterance < 0 || cfg.CallTimeout < 0 || cfg.Backoff < 0 {
		return nil, errors.New("transcription: negative duration in StreamConfig")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 60 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.InterimInterval <= 0 {
		cfg.InterimInterval = time.Second
	}
	if cfg.LateRetries == 0 {
		cfg.LateRetries = 3
	}
	if cfg.LateRetryDelay <= 0 {
		cfg.LateRetryDelay = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{
		cfg:      cfg,
		ctx:      ctx,
		log:      log,
		events:   make(chan Event),
		rs:       rs,
		seg:      NewSegmenter(SegmenterConfig{Endpointing: cfg.Endpointing, MaxUtterance: cfg.MaxUtterance, Buffers: cfg.Buffers}),
		done:     make(map[int]Result),
		texts:    make(map[int]string),
		total:    -1,
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}),
		closing:  make(chan struct{}),
	}
	s.interimCtx, s.interimCancel = context.WithCancel(ctx)
	go s.dispatch()
	return s, nil
}

// Events delivers the stream's events; it is closed after Close once every
// result has been delivered, or when the stream's context is cancelled.
func (s *Stream) Events() <-chan Event { return s.events }

// Received is how much audio Write has been given, on the input timeline.
func (s *Stream) Received() time.Duration {
	return time.Duration(s.received.Load()) * time.Second / time.Duration(s.cfg.SampleRate)
}

// Buffered is how many bytes of audio the stream holds in memory: the
// utterance in progress (or the pre-roll kept before speech), utterances
// waiting for or in recognition, and the decoding and resampling buffers.
// It is for accounting (the gateway's scribegate_audio_buffered_bytes);
// it takes the stream's locks.
func (s *Stream) Buffered() int {
	s.mu.Lock()
	n := 2*(cap(s.pcm)+cap(s.engIn)) + s.seg.buffered() + 8*cap(s.rs.buf)
	s.mu.Unlock()
	s.jmu.Lock()
	for _, j := range s.jobs {
		n += 2 * cap(j.u.Samples)
	}
	s.jmu.Unlock()
	return n + int(s.busy.Load()) + int(s.gapBytes.Load())
}

// Backlog is the speech cut into utterances whose results have not been
// delivered yet, and its length: how far the transcript is behind what was
// said, and after Close what remains before the stream ends.
func (s *Stream) Backlog() (utterances int, audio time.Duration) {
	s.mu.Lock()
	n := s.nUtt
	s.mu.Unlock()
	s.qmu.Lock()
	n -= s.next
	s.qmu.Unlock()
	return max(n, 0), time.Duration(s.backlog.Load()) * time.Second / EngineSampleRate
}

// Write takes raw little-endian linear16 mono audio at the configured rate.
// Frames may have any length: an odd trailing byte waits for the next call.
func (s *Stream) Write(pcm []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStreamClosed
	}
	if s.rs.passthrough {
		// At the engine's rate the segmenter decodes the audio straight
		// into what it holds: no other copy is made.
		var n int
		s.segEv, n = s.seg.writeLinear16(s.segEv[:0], &s.dec, pcm)
		s.received.Add(int64(n))
	} else {
		s.pcm = s.dec.Decode(s.pcm[:0], pcm)
		s.received.Add(int64(len(s.pcm)))
		s.engIn = s.rs.Write(s.engIn[:0], s.pcm)
		s.segEv = s.seg.Write(s.segEv[:0], s.engIn)
	}
	s.submit(s.segEv, false)
	if s.cfg.Interim {
		s.startInterim()
	}
	return nil
}

// startInterim recognises the utterance in progress when InterimInterval
// of new audio has been heard since the last interim (or since the
// utterance began) and no interim call is in flight. Called with s.mu held.
func (s *Stream) startInterim() {
	start, end, ok := s.seg.pendingSpan()
	if !ok {
		return
	}
	// Count speech heard, not time: during a pause nothing new is said,
	// and the same audio is not sent again.
	if end-max(s.interimAt, start) < s.cfg.InterimInterval {
		return
	}
	if !s.interimBusy.CompareAndSwap(false, true) {
		return // the engine is still busy with the last one: skip this one
	}
	u, _ := s.seg.Pending() // copied only when an interim is due
	s.interimAt = end
	seq := s.nUtt // the pending utterance is the next job submitted
	u.Language, u.Keyterms = s.cfg.Language, s.cfg.Keyterms
	u.Prompt = s.prompt(seq)
	s.interimWG.Add(1)
	s.busy.Add(int64(2 * cap(u.Samples)))
	go s.recogniseInterim(seq, u)
}

// recogniseInterim makes one attempt at a provisional transcript: a failed
// interim is not retried, the final result will come anyway.
func (s *Stream) recogniseInterim(seq int, u Utterance) {
	defer s.interimWG.Done()
	defer s.interimBusy.Store(false)
	defer s.busy.Add(-int64(2 * cap(u.Samples)))
	ctx, cancel := context.WithTimeout(s.interimCtx, s.callTimeout(u))
	t, err := s.cfg.Engine.Transcribe(ctx, u)
	cancel()
	s.cfg.Buffers.Put(u.Samples) // its one call has returned
	if err != nil {
		s.log.Debug("interim recognition failed", "utterance", u.Index, "err", err)
		return
	}
	r := Result{Index: u.Index, Start: u.Start, Duration: u.Duration()}
	if len(t.Words) == 0 && t.Text != "" {
		t.Words = EstimateWords(t.Text, u.Start, u.Start+r.Duration)
		for i := range t.Words {
			t.Words[i].Confidence = t.Confidence
		}
	}
	r.Transcript = t
	s.qmu.Lock()
	if seq >= s.next {
		s.interim, s.interSeq = &r, seq
	}
	s.qmu.Unlock()
	s.signal()
}

// RetryGap takes a gap made before this stream began, by the stream a
// session had before a gateway restart, for the late retries this
// stream's own gaps get (LateRetries; the last when the stream closes):
// pcm is the gap's audio as the stream takes it (little-endian linear16
// at SampleRate), gap the final Result that marked it, on this stream's
// timeline. A success is delivered as a Result that Replaces the gap.
// With late retries off it does nothing.
func (s *Stream) RetryGap(pcm []byte, gap Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStreamClosed
	}
	if s.cfg.LateRetries <= 0 || len(pcm) < 2 {
		return nil
	}
	var dec Linear16Decoder
	in := dec.Decode(nil, pcm)
	if !s.rs.passthrough {
		rs, err := NewResampler(s.cfg.SampleRate, EngineSampleRate)
		if err != nil {
			return err
		}
		in = rs.Flush(rs.Write(nil, in))
	}
	samples := append(s.cfg.Buffers.get(len(in), 1024), in...)
	u := Utterance{Index: gap.Index, Start: gap.Start, Samples: samples, SampleRate: EngineSampleRate, Language: s.cfg.Language, Keyterms: s.cfg.Keyterms}
	s.late.Add(1)
	s.gapBytes.Add(int64(2 * cap(samples)))
	// Before any of this stream's utterances (sequence -1): its
	// replacement goes out as soon as it comes, and it takes no prompt.
	go s.retryLater(-1, u, gap)
	return nil
}

// Finalize ends the current utterance now, as if a pause had been heard; its
// Result has FromFinalize set. With no speech pending it is answered by an
// empty Result with FromFinalize set. Deepgram's documentation says its
// confirmation is usual but not guaranteed when little audio is buffered;
// answering every Finalize is within that and lets a client wait for it.
func (s *Stream) Finalize() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStreamClosed
	}
	s.segEv = s.seg.Flush(s.segEv[:0])
	utterances := 0
	for _, ev := range s.segEv {
		if ev.Kind == SegmentUtterance {
			utterances++
		}
	}
	s.submit(s.segEv, true)
	if utterances == 0 {
		seq := s.nUtt
		s.nUtt++
		s.enqueue(job{seq: seq, u: Utterance{Index: s.seg.index, Start: s.seg.Elapsed()}, fromFinalize: true, empty: true})
	}
	return nil
}

// Close ends the stream: it flushes the current utterance, waits until every
// utterance has been recognised (or has become a gap), gives every gap one
// last try (StreamConfig.LateRetries) and returns. Events is closed once the
// consumer has read the remaining events. Calling Close again does nothing.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.engIn = s.rs.Flush(s.engIn[:0])
	s.segEv = s.seg.Write(s.segEv[:0], s.engIn)
	s.submit(s.segEv, false)
	s.segEv = s.seg.Flush(s.segEv[:0])
	s.submit(s.segEv, true)
	s.seg.release() // closed: nothing more is written or is pending
	total := s.nUtt
	s.mu.Unlock()

	s.interimCancel() // the final results are coming; interims are moot
	s.interimWG.Wait()
	s.workers.Wait()
	close(s.closing) // every gap there will be is waiting for its last try
	s.late.Wait()
	s.qmu.Lock()
	s.total = total
	s.qmu.Unlock()
	s.signal()
	return nil
}

// submit queues speech-start events and starts recognising utterances.
// Called with s.mu held.
func (s *Stream) submit(evs []SegmentEvent, fromFinalize bool) {
	for _, ev := range evs {
		switch ev.Kind {
		case SegmentSpeechStarted:
			s.qmu.Lock()
			s.ready = append(s.ready, Event{Type: EventSpeechStarted, At: ev.At})
			s.qmu.Unlock()
			s.signal()
		case SegmentUtterance:
			u := ev.Utterance
			u.Language, u.Keyterms = s.cfg.Language, s.cfg.Keyterms
			seq := s.nUtt
			s.nUtt++
			s.enqueue(job{seq: seq, u: u, fromFinalize: fromFinalize, speechFinal: !ev.Cut})
		}
	}
}

func (s *Stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

type job struct {
	seq                       int // delivery order
	u                         Utterance
	fromFinalize, speechFinal bool
	empty                     bool // answers a Finalize that had no speech
}

// enqueue queues an utterance for recognition, starting a worker if fewer
// than Concurrency are running. Workers take jobs in order and exit when
// the queue is empty, so an idle stream holds no goroutines but its
// dispatcher.
func (s *Stream) enqueue(j job) {
	s.backlog.Add(int64(len(j.u.Samples)))
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.jobs = append(s.jobs, j)
	if s.running < s.cfg.Concurrency {
		s.running++
		s.workers.Add(1)
		go s.work()
	}
}

func (s *Stream) work() {
	defer s.workers.Done()
	for {
		s.jmu.Lock()
		if len(s.jobs) == 0 || s.ctx.Err() != nil {
			if s.ctx.Err() != nil {
				// Abandoned: the queued utterances are never recognised.
				for i, j := range s.jobs {
					s.backlog.Add(-int64(len(j.u.Samples)))
					s.cfg.Buffers.Put(j.u.Samples)
					s.jobs[i] = job{}
				}
				s.jobs = s.jobs[:0]
			}
			s.running--
			s.jmu.Unlock()
			return
		}
		j := s.jobs[0]
		s.jobs[0] = job{}
		s.jobs = s.jobs[1:]
		s.jmu.Unlock()
		n := int64(2 * cap(j.u.Samples))
		samples := int64(len(j.u.Samples))
		s.busy.Add(n)
		s.recognise(j)
		s.busy.Add(-n)
		s.backlog.Add(-samples)
	}
}

// recognise runs one utterance through the engine, with retries, and hands
// the Result to the dispatcher.
func (s *Stream) recognise(j job) {
	u := j.u
	r := Result{Index: u.Index, Start: u.Start, Duration: u.Duration(), FromFinalize: j.fromFinalize, SpeechFinal: j.speechFinal}
	if j.empty {
		s.qmu.Lock()
		s.done[j.seq] = r
		s.qmu.Unlock()
		s.signal()
		return
	}
	u.Prompt = s.prompt(j.seq)
	t, attempts, err := s.transcribe(u)
	// Every engine call has returned: the samples go back to the buffers
	// now, unless a late retry takes them over.
	switch {
	case s.ctx.Err() != nil:
		s.cfg.Buffers.Put(u.Samples)
		return // abandoned: no result, and no gap claimed for audio we never finished
	case err != nil:
		s.log.Warn("utterance became a gap", "utterance", u.Index, "attempts", attempts, "err", err)
		r.Gap = true
		r.Transcript = Transcript{Text: GapMarker(u.Start, u.Start+r.Duration, "transcription failed")}
		if s.cfg.LateRetries > 0 {
			// Added before this worker ends, so before Close's wait.
			s.late.Add(1)
			s.gapBytes.Add(int64(2 * cap(u.Samples)))
			go s.retryLater(j.seq, u, r) // the samples are its now
		} else {
			s.cfg.Buffers.Put(u.Samples)
		}
	default:
		s.cfg.Buffers.Put(u.Samples)
		r.Transcript = timed(t, u.Start, r.Duration)
		s.log.Debug("utterance recognised", "utterance", u.Index, "attempts", attempts, "words", len(t.Words))
	}
	s.qmu.Lock()
	s.done[j.seq] = r
	if !r.Gap {
		s.texts[j.seq] = t.Text
		delete(s.texts, j.seq-promptUtterances)
	}
	s.qmu.Unlock()
	s.signal()
}

// timed lays t's words on the session timeline, estimating them when the
// engine gave none.
func timed(t Transcript, start, dur time.Duration) Transcript {
	if len(t.Words) == 0 && t.Text != "" {
		t.Words = EstimateWords(t.Text, start, start+dur)
		for i := range t.Words {
			t.Words[i].Confidence = t.Confidence
		}
	}
	return t
}

// retryLater tries a gap's audio again while the session goes on, after
// LateRetryDelay and then doubling delays, and once more when the stream
// closes; the first success is delivered as a Result that Replaces the gap.
// Each try is one engine call: the engine was already given its retries
// with backoff when the gap was made, and a late retry is about waiting
// out an outage, not hammering it.
func (s *Stream) retryLater(seq int, u Utterance, gap Result) {
	defer s.late.Done()
	defer s.gapBytes.Add(-int64(2 * cap(u.Samples)))
	defer s.cfg.Buffers.Put(u.Samples) // every return follows its last engine call

	delay := s.cfg.LateRetryDelay
	for try := 1; ; try++ {
		last := false
		var timer *time.Timer
		var due <-chan time.Time // nil after the last timed try: wait for Close
		if try <= s.cfg.LateRetries {
			timer = time.NewTimer(delay/2 + rand.N(delay)) // jitter in [delay/2, 3·delay/2)
			due = timer.C
		}
		select {
		case <-due:
		case <-s.closing:
			last = true
		case <-s.ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if s.ctx.Err() != nil {
			return
		}
		u.Prompt = s.prompt(seq) // the text before it is likely known by now
		ctx, cancel := context.WithTimeout(s.ctx, s.callTimeout(u))
		t, err := s.cfg.Engine.Transcribe(ctx, u)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			r := gap
			r.Gap, r.Replaces = false, true
			r.Transcript = timed(t, u.Start, gap.Duration)
			s.log.Info("gap recognised on a late retry", "utterance", u.Index, "try", try)
			s.qmu.Lock()
			s.replaced = append(s.replaced, seqResult{seq: seq, r: r})
			s.texts[seq] = t.Text
			s.qmu.Unlock()
			s.signal()
			return
		}
		s.log.Warn("late retry of a gap failed", "utterance", u.Index, "try", try, "last", last, "err", err)
		if last {
			return
		}
		delay *= 2
	}
}

// maxPrompt bounds the transcript's part of the prompt: its last ~600
// bytes, some 150 tokens, a few sentences (Whisper reads 224 tokens; the
// glossary takes the rest). One utterance before is often a word or two.
const maxPrompt = 600

// promptUtterances bounds how far back the prompt and s.texts go.
const promptUtterances = 256

// prompt is the end of the transcript recognised before the job with
// sequence index, up to maxPrompt bytes: the earlier utterances'
// texts in order, those still in flight (with Concurrency above 1)
// left out.
func (s *Stream) prompt(index int) string {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	var parts []string
	n := 0
	for i := index - 1; i >= 0 && i >= index-promptUtterances && n <= maxPrompt; i-- {
		if t, ok := s.texts[i]; ok && t != "" {
			parts = append(parts, t)
			n += len(t) + 1
		}
	}
	slices.Reverse(parts)
	return lastBytes(strings.Join(parts, " "), maxPrompt)
}

// callTimeout bounds one engine call for u: the engine's own, when it
// says (OpenAIEngine scales it with the utterance), else CallTimeout.
func (s *Stream) callTimeout(u Utterance) time.Duration {
	if e, ok := s.cfg.Engine.(interface{ CallTimeout(Utterance) time.Duration }); ok {
		if d := e.CallTimeout(u); d > 0 {
			return d
		}
	}
	return s.cfg.CallTimeout
}

// lastBytes is the end of t in at most n bytes, cut at a character.
func lastBytes(t string, n int) string {
	if len(t) <= n {
		return t
	}
	cut := len(t) - max(n, 0)
	for cut < len(t) && !utf8.RuneStart(t[cut]) {
		cut++
	}
	return t[cut:]
}

func (s *Stream) transcribe(u Utterance) (Transcript, int, error) {
	delay := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.callTimeout(u))
		t, err := s.cfg.Engine.Transcribe(ctx, u)
		cancel()
		if err == nil {
			return t, attempt, nil
		}
		if s.ctx.Err() != nil || attempt >= s.cfg.Attempts || !IsTransient(err) {
			return Transcript{}, attempt, err
		}
		wait := delay/2 + rand.N(delay) // jitter in [delay/2, 3·delay/2)
		var ee *EngineError
		if errors.As(err, &ee) && ee.RetryAfter > wait {
			wait = min(ee.RetryAfter, 30*time.Second)
		}
		s.log.Debug("retrying utterance", "utterance", u.Index, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return Transcript{}, attempt, s.ctx.Err()
		}
		delay *= 2
	}
}

// dispatch delivers events in order: speech starts as they come, results
// by utterance index, each result followed by its UtteranceEnd.
func (s *Stream) dispatch() {
	defer close(s.finished)
	defer close(s.events)
	for {
		s.qmu.Lock()
		for {
			r, ok := s.done[s.next]
			if !ok {
				break
			}
			delete(s.done, s.next)
			s.next++
			if l := s.lastResult; !l.SpeechFinal && !l.Gap && !r.Gap && r.Start < l.Start+l.Duration {
				// A forced cut: the words heard in the overlap by both
				// utterances go out once.
				r.Transcript = dedupeSeam(l.Transcript, r.Transcript, r.Start, l.Start+l.Duration)
			}
			s.lastResult = r
			s.ready = append(s.ready, Event{Type: EventResult, At: r.Start, Result: r})
			if r.SpeechFinal {
				end := r.Start + r.Duration
				if w := r.Transcript.Words; len(w) > 0 {
					end = w[len(w)-1].End
				}
				s.ready = append(s.ready, Event{Type: EventUtteranceEnd, At: end})
			}
		}
		// A replacement goes out once its gap has, in the order they came.
		kept := s.replaced[:0]
		for _, sr := range s.replaced {
			if sr.seq < s.next {
				s.ready = append(s.ready, Event{Type: EventResult, At: sr.r.Start, Result: sr.r})
			} else {
				kept = append(kept, sr)
			}
		}
		clear(s.replaced[len(kept):])
		s.replaced = kept
		if s.interim != nil {
			switch {
			case s.interSeq < s.next: // its final result has gone out
				s.interim = nil
			case s.interSeq == s.next:
				s.ready = append(s.ready, Event{Type: EventInterim, At: s.interim.Start, Result: *s.interim})
				s.interim = nil
			}
		}
		var ev Event
		have := len(s.ready) > 0
		if have {
			ev = s.ready[0]
			s.ready = s.ready[1:]
		}
		finished := !have && s.total >= 0 && s.next >= s.total
		s.qmu.Unlock()

		switch {
		case finished:
			return
		case have:
			select {
			case s.events <- ev:
			case <-s.ctx.Done():
				return
			}
		default:
			select {
			case <-s.wake:
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// GapMarker is the text that stands in a transcript for audio the engine
// could not recognise, e.g. "[inaudible 00:12–00:19: transcription
// failed]". It names the span so a reviewer can replay it.
func GapMarker(start, end time.Duration, reason string) string {
	return fmt.Sprintf("[inaudible %s–%s: %s]", clock(start), clock(end), reason)
}

func clock(d time.Duration) string {
	sec := int(d.Round(time.Second) / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/60, sec%60)
}

// EstimateWords spreads the words of text over [start, end] in proportion
// to their length, for engines that give no word timings: evidence links
// and the review UI need every word on the timeline, and length is a fair
// proxy for speaking time. Confidence is left 0 for the caller to set.
func EstimateWords(text string, start, end time.Duration) []Word {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return nil
	}
	total := len(fields) - 1 // one unit for each gap between words
	for _, f := range fields {
		total += utf8.RuneCountInString(f)
	}
	span := float64(end - start)
	words := make([]Word, len(fields))
	pos := 0
	for i, f := range fields {
		n := utf8.RuneCountInString(f)
		words[i] = Word{
			Word:  f,
			Start: start + time.Duration(span*float64(pos)/float64(total)),
			End:   start + time.Duration(span*float64(pos+n)/float64(total)),
		}
		pos += n + 1
	}
	return words
}

// EngineError is an engine failure that says whether retrying can help, so
// a Stream retries a rate limit but not a rejected key. Engines wrap their
// errors in it; errors that are not EngineErrors count as transient.
type EngineError struct {
	// Status is the remote HTTP status, 0 for network and local errors.
	Status int
	// Transient reports that the same request may succeed later.
	Transient bool
	// RetryAfter is how long the remote asked us to wait, if it said.
	RetryAfter time.Duration
	Err        error
}

func (e *EngineError) Error() string {
	kind := "permanent"
	if e.Transient {
		kind = "transient"
	}
	if e.Status != 0 {
		return fmt.Sprintf("transcription engine: %s error (status %d): %v", kind, e.Status, e.Err)
	}
	return fmt.Sprintf("transcription engine: %s error: %v", kind, e.Err)
}

func (e *EngineError) Unwrap() error { return e.Err }

// IsTransient reports whether retrying err may succeed: an EngineError says
// so itself; a cancelled context never; anything else (a timeout, a
// network error from an engine that does not classify) is worth a retry.
func IsTransient(err error) bool {
	var ee *EngineError
	if errors.As(err, &ee) {
		return ee.Transient
	}
	return !errors.Is(err, context.Canceled)
}
