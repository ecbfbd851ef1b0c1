package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scribegate/scribegate/gateway/clientconn"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
)

// transcriber is the transcript part of a session: the transcription
// stream the session's new audio is fed to, the pump that turns its events
// into Results for the client and utterances for the transcript, and the
// note's transcript log. It sends through the connection; it does not
// know who reads the transcript (onFinal says utterances became final).
type transcriber struct {
	srv    *Server
	id     string // the session's: Results' request_id
	noteID string
	p      listenParams
	log    *slog.Logger // with the session's ids
	conn   *clientconn.Conn
	// onFinal, when set, is called (on the pump's goroutine) when an
	// utterance with words became final; it must not block.
	onFinal func()

	stream   *transcription.Stream
	pumpDone chan struct{}
	tr       transcript // the final utterances so far

	// The stream was started at streamFrom and has been fed fed bytes
	// since; its results are shifted by baseTime and baseIndex onto the
	// session's timeline.
	streamFrom int64
	fed        atomic.Int64
	baseTime   time.Duration
	baseIndex  int
	// heardThrough: a rebuilt session's audio offset up to which its
	// client was sent Results before the restart, as far as the gateway
	// can tell (all the audio stored then); the stream transcribes that
	// tail again for the note but does not send it again.
	heardThrough int64
}

// open opens the session's transcription stream.
func (t *transcriber) open(log *slog.Logger) error {
	s := t.srv
	stream, err := transcription.NewStream(s.base, transcription.StreamConfig{
		Engine:       s.opts.Engine,
		Buffers:      s.bufs,
		SampleRate:   t.p.sampleRate,
		Language:     t.p.language,
		Keyterms:     t.p.keyterms,
		Endpointing:  t.endpointing(),
		MaxUtterance: s.limits.MaxUtterance,
		Logger:       log,

		Interim:         t.p.interim,
		InterimInterval: s.limits.interimInterval(),
	})
	t.stream = stream
	return err
}

// defaultInterimInterval is Limits.InterimInterval when unset.
const defaultInterimInterval = time.Second

func (l Limits) interimInterval() time.Duration {
	if l.InterimInterval <= 0 {
		return defaultInterimInterval
	}
	return l.InterimInterval
}

func (t *transcriber) endpointing() time.Duration {
	if t.p.noEndpoint {
		// No silence ends an utterance; MaxUtterance, Finalize and the end
		// of the session still do.
		return t.srv.limits.MaxSessionDuration
	}
	if t.p.endpointing > 0 {
		return t.p.endpointing
	}
	return t.srv.limits.Endpointing
}

// feed gives the stream the audio at offset start that it has not had (a
// rebuilt session's stream starts at its transcribed offset).
func (t *transcriber) feed(part []byte, start int64) error {
	if cut := t.streamFrom - start; cut > 0 {
		part = part[min(cut, int64(len(part))):]
	}
	if len(part) == 0 {
		return nil
	}
	t.fed.Add(int64(len(part)))
	return t.stream.Write(part)
}

// finalize flushes the current utterance (Finalize).
func (t *transcriber) finalize() error { return t.stream.Finalize() }

// startPump starts the pump; close and abort wait for it.
func (t *transcriber) startPump() {
	t.pumpDone = make(chan struct{})
	go t.pump()
}

// close flushes the stream and returns once the pump has taken every
// result: the transcript is then final.
func (t *transcriber) close() error {
	err := t.stream.Close()
	<-t.pumpDone
	return err
}

// abort closes the stream of a session that is not finished here.
func (t *transcriber) abort() {
	t.stream.Close()
	<-t.pumpDone
}

// now is a copy of the final utterances so far.
func (t *transcriber) now() []note.Line { return t.tr.now() }

// progress is the Progress message of the stream's backlog at stage.
func (t *transcriber) progress(stage string) wire.Progress {
	n, d := t.stream.Backlog()
	return wire.Progress{Type: "Progress", Stage: stage, Pending: n, PendingSeconds: d.Seconds(),
		Received: (t.baseTime + t.stream.Received()).Seconds()}
}

// pump turns stream events into messages and collects the transcript.
func (t *transcriber) pump() {
	defer close(t.pumpDone)
	for ev := range t.stream.Events() {
		switch ev.Type {
		case transcription.EventResult:
			r := ev.Result
			if r.Replaces {
				t.replaceGap(r)
				continue
			}
			through := t.shiftResult(&r)
			t.p.dg.shape(&r.Transcript)
			var u *note.Line
			if r.Transcript.Text != "" || r.Gap {
				u = &note.Line{Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text, Gap: r.Gap}
				t.tr.add(*u)
			}
			t.saveUtterance(u, through)
			if through <= t.heardThrough {
				continue // the client had it before the restart
			}
			t.conn.Send(toResults(t.id, r, true))
			t.srv.metrics.resultsSent.Inc()
			if r.Transcript.Text != "" {
				t.final()
			}
		case transcription.EventInterim:
			r := ev.Result
			if t.shiftResult(&r) <= t.heardThrough {
				continue
			}
			t.p.dg.shape(&r.Transcript)
			t.conn.Send(toResults(t.id, r, false))
		case transcription.EventSpeechStarted:
			if t.p.vadEvents {
				t.conn.Send(wire.SpeechStarted{Type: "SpeechStarted", Channel: []int{0}, Timestamp: seconds(ev.At + t.baseTime)})
			}
		case transcription.EventUtteranceEnd:
			if t.p.utteranceEnd > 0 {
				t.conn.Send(wire.UtteranceEnd{Type: "UtteranceEnd", Channel: []int{0, 1}, LastWordEnd: seconds(ev.At + t.baseTime)})
			}
		}
	}
}

func (t *transcriber) final() {
	if t.onFinal != nil {
		t.onFinal()
	}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// toResults is the Results message of r; isFinal is false for interim
// results, which are never speech_final or from_finalize.
func toResults(requestID string, r transcription.Result, isFinal bool) wire.Results {
	t := r.Transcript
	words := make([]wire.Word, 0, len(t.Words))
	for _, w := range t.Words {
		words = append(words, wire.Word{
			Word: wire.PlainWord(w.Word), Start: seconds(w.Start), End: seconds(w.End),
			Confidence: w.Confidence, PunctuatedWord: w.Word,
		})
	}
	return wire.Results{
		Type:         "Results",
		ChannelIndex: []int{0, 1},
		Duration:     seconds(r.Duration),
		Start:        seconds(r.Start),
		IsFinal:      isFinal,
		SpeechFinal:  isFinal && r.SpeechFinal,
		FromFinalize: isFinal && r.FromFinalize,
		Channel: wire.Channel{Alternatives: []wire.Alternative{{
			Transcript: t.Text, Confidence: t.Confidence, Words: words,
		}}},
		Metadata: wire.ResultsMetadata{RequestID: requestID, ModelInfo: wire.ModelInfo{Name: "scribegate"}},
	}
}

// utteranceReplacer is what replacing a gap needs of the note service;
// *review.Service has it.
type utteranceReplacer interface {
	ReplaceUtterance(ctx context.Context, id string, u note.Line) (*review.Note, error)
}

// replaceGap takes in a late retry's result: the gap it replaces is
// replaced in the session's transcript and in the stored note, and the
// client gets another final Results for the same span (Deepgram clients
// see a second final for that time; ours know it by its start).
func (t *transcriber) replaceGap(r transcription.Result) {
	t.shiftResult(&r)
	t.p.dg.shape(&r.Transcript)
	u := note.Line{Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text}
	if !t.tr.replaceGap(u) {
		return // not ours to replace (it was never a gap here)
	}
	t.srv.metrics.gapsRecovered.Inc()
	if rn, ok := t.srv.opts.Notes.(utteranceReplacer); ok && t.srv.opts.Audio != nil {
		t.saveTranscript() // the gap may be waiting to be appended
		if _, err := rn.ReplaceUtterance(t.srv.base, t.noteID, u); err != nil {
			// The gap may never have been stored (its offset was already
			// covered): the transcript drafted at the end has the words.
			t.log.Warn("store recovered utterance", "utterance", r.Index, "err", err)
		}
	}
	t.conn.Send(toResults(t.id, r, true))
	t.srv.metrics.resultsSent.Inc()
	if u.Text != "" {
		t.final()
	}
}

// shiftResult puts a result of the session's current stream on the
// session's timeline (a rebuilt session's stream starts at its transcribed
// offset) and returns the audio offset its utterance ends at.
func (t *transcriber) shiftResult(r *transcription.Result) int64 {
	endSamples := (int64(r.Start+r.Duration)*int64(t.p.sampleRate) + int64(time.Second) - 1) / int64(time.Second)
	through := min(t.streamFrom+2*endSamples, t.streamFrom+t.fed.Load())
	r.Index += t.baseIndex
	r.Start += t.baseTime
	for i := range r.Transcript.Words {
		r.Transcript.Words[i].Start += t.baseTime
		r.Transcript.Words[i].End += t.baseTime
	}
	return through
}

// saveUtterance takes a final utterance (nil: none, only the audio offset
// its result ends at) for the note's transcript log, appending what waits
// once Limits.TranscriptSaveInterval has passed since the last append: a
// commit per utterance, hundreds a second at a thousand sessions, costs
// more than transcribing a few seconds again after a crash. The pump's.
func (t *transcriber) saveUtterance(u *note.Line, through int64) {
	if _, ok := t.srv.opts.Notes.(recordingNotes); !ok || t.srv.opts.Audio == nil {
		return
	}
	if t.tr.toSave(u, through, t.srv.limits.TranscriptSaveInterval) {
		t.saveTranscript()
	}
}

// saveTranscript appends the utterances waiting to the note's transcript
// log, with the offset they reach; after a failure they wait for the next
// append. The pump's.
func (t *transcriber) saveTranscript() {
	rn, ok := t.srv.opts.Notes.(recordingNotes)
	if !ok || t.srv.opts.Audio == nil {
		return
	}
	utts, through, ok := t.tr.unsavedNow()
	if !ok {
		return
	}
	if err := rn.AppendTranscript(t.srv.base, t.noteID, utts, through); err != nil {
		t.log.Warn("store utterances", "utterances", len(utts), "err", err)
		return
	}
	t.tr.saved(through)
}

// retryGaps gives a rebuilt session's stream the gaps in its transcript,
// made by the gateway before the restart, for the late retries its own
// gaps get: an engine outage that outlasted a gateway leaves no more of
// the consultation marked inaudible than one that did not. audio is the
// session's, as stored; the gaps' times are on the session's timeline,
// the stream's start at baseTime.
func (t *transcriber) retryGaps(log *slog.Logger, lines []note.Line, audio []byte) {
	rate := t.p.sampleRate
	byteAt := func(d time.Duration, up bool) int64 {
		num := int64(d) * int64(rate)
		if up {
			num += int64(time.Second) - 1
		}
		return 2 * (num / int64(time.Second))
	}
	for _, u := range lines {
		if !u.Gap {
			continue
		}
		from, to := byteAt(u.Start, false), min(byteAt(u.End, true), int64(len(audio)))
		if from >= to {
			continue
		}
		gap := transcription.Result{Index: u.Index - t.baseIndex, Start: u.Start - t.baseTime, Duration: u.End - u.Start,
			Gap: true, Transcript: transcription.Transcript{Text: u.Text}}
		if err := t.stream.RetryGap(audio[from:to], gap); err != nil {
			log.Warn("gap of the last gateway not retried", "utterance", u.Index, "err", err)
		}
	}
}

// transcript is a session's transcript: its final utterances so far,
// which the pump adds and live drafts and the session's end read, and
// what of them the note's transcript log holds.
type transcript struct {
	mu    sync.Mutex // guards lines
	lines []note.Line

	// The pump's: the note's transcript log holds the utterances up to
	// savedThrough (an audio offset); unsaved wait to be appended, up to
	// unsavedThrough; lastSave is the last append.
	savedThrough   int64
	unsaved        []note.Line
	unsavedThrough int64
	lastSave       time.Time
}

// add appends a final utterance.
func (t *transcript) add(u note.Line) {
	t.mu.Lock()
	t.lines = append(t.lines, u)
	t.mu.Unlock()
}

// now is a copy of the utterances so far.
func (t *transcript) now() []note.Line {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]note.Line(nil), t.lines...)
}

// replaceGap puts u in place of the gap with u's index (u without text
// removes it) and reports whether there was one.
func (t *transcript) replaceGap(u note.Line) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.lines {
		if t.lines[i].Index == u.Index && t.lines[i].Gap {
			if u.Text == "" { // no speech after all: the gap goes
				t.lines = append(t.lines[:i], t.lines[i+1:]...)
			} else {
				t.lines[i] = u
			}
			return true
		}
	}
	return false
}

// toSave takes a final utterance (nil: none, only the audio offset its
// result ends at) for the transcript log, and reports whether the
// waiting ones are due to be appended (every interval at most).
func (t *transcript) toSave(u *note.Line, through int64, interval time.Duration) bool {
	if through <= t.savedThrough {
		return false
	}
	if u != nil {
		t.unsaved = append(t.unsaved, *u)
	}
	t.unsavedThrough = max(t.unsavedThrough, through)
	return time.Since(t.lastSave) >= interval
}

// unsavedNow is what waits to be appended to the log and the offset it
// reaches; false when nothing does. It counts as an append's start.
func (t *transcript) unsavedNow() ([]note.Line, int64, bool) {
	if t.unsavedThrough <= t.savedThrough {
		return nil, 0, false
	}
	t.lastSave = time.Now()
	return t.unsaved, t.unsavedThrough, true
}

// saved records that the log holds what unsavedNow gave, up to through.
func (t *transcript) saved(through int64) {
	t.savedThrough = through
	t.unsaved = t.unsaved[:0]
}
