package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
)

// pump turns stream events into messages and collects the transcript.
func (ss *session) pump(done chan<- struct{}) {
	defer close(done)
	for ev := range ss.stream.Events() {
		switch ev.Type {
		case transcription.EventResult:
			r := ev.Result
			if r.Replaces {
				ss.replaceGap(r)
				continue
			}
			through := ss.shiftResult(&r)
			ss.p.dg.shape(&r.Transcript)
			var u *note.Line
			if r.Transcript.Text != "" || r.Gap {
				u = &note.Line{Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text, Gap: r.Gap}
				ss.tr.add(*u)
			}
			ss.saveUtterance(u, through)
			if through <= ss.heardThrough {
				continue // the client had it before the restart
			}
			ss.send(toResults(ss.id, r, true))
			ss.srv.metrics.resultsSent.Inc()
			if r.Transcript.Text != "" {
				ss.live.kick()
			}
		case transcription.EventInterim:
			r := ev.Result
			if ss.shiftResult(&r) <= ss.heardThrough {
				continue
			}
			ss.p.dg.shape(&r.Transcript)
			ss.send(toResults(ss.id, r, false))
		case transcription.EventSpeechStarted:
			if ss.p.vadEvents {
				ss.send(wire.SpeechStarted{Type: "SpeechStarted", Channel: []int{0}, Timestamp: seconds(ev.At + ss.baseTime)})
			}
		case transcription.EventUtteranceEnd:
			if ss.p.utteranceEnd > 0 {
				ss.send(wire.UtteranceEnd{Type: "UtteranceEnd", Channel: []int{0, 1}, LastWordEnd: seconds(ev.At + ss.baseTime)})
			}
		}
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
func (ss *session) replaceGap(r transcription.Result) {
	ss.shiftResult(&r)
	ss.p.dg.shape(&r.Transcript)
	u := note.Line{Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text}
	if !ss.tr.replaceGap(u) {
		return // not ours to replace (it was never a gap here)
	}
	ss.srv.metrics.gapsRecovered.Inc()
	if rn, ok := ss.srv.opts.Notes.(utteranceReplacer); ok && ss.srv.opts.Audio != nil {
		ss.saveTranscript() // the gap may be waiting to be appended
		if _, err := rn.ReplaceUtterance(ss.srv.base, ss.note.ID, u); err != nil {
			// The gap may never have been stored (its offset was already
			// covered): the transcript drafted at the end has the words.
			ss.srv.log.Warn("store recovered utterance", append(ss.attrs(), "utterance", r.Index, "err", err)...)
		}
	}
	ss.send(toResults(ss.id, r, true))
	ss.srv.metrics.resultsSent.Inc()
	if u.Text != "" {
		ss.live.kick()
	}
}

// shiftResult puts a result of the session's current stream on the
// session's timeline (a rebuilt session's stream starts at its transcribed
// offset) and returns the audio offset its utterance ends at.
func (ss *session) shiftResult(r *transcription.Result) int64 {
	endSamples := (int64(r.Start+r.Duration)*int64(ss.p.sampleRate) + int64(time.Second) - 1) / int64(time.Second)
	through := min(ss.streamFrom+2*endSamples, ss.streamFrom+ss.fed.Load())
	r.Index += ss.baseIndex
	r.Start += ss.baseTime
	for i := range r.Transcript.Words {
		r.Transcript.Words[i].Start += ss.baseTime
		r.Transcript.Words[i].End += ss.baseTime
	}
	return through
}

// saveUtterance takes a final utterance (nil: none, only the audio offset
// its result ends at) for the note's transcript log, appending what waits
// once Limits.TranscriptSaveInterval has passed since the last append: a
// commit per utterance, hundreds a second at a thousand sessions, costs
// more than transcribing a few seconds again after a crash. The pump's.
func (ss *session) saveUtterance(u *note.Line, through int64) {
	if _, ok := ss.srv.opts.Notes.(recordingNotes); !ok || ss.srv.opts.Audio == nil {
		return
	}
	if ss.tr.toSave(u, through, ss.srv.limits.TranscriptSaveInterval) {
		ss.saveTranscript()
	}
}

// saveTranscript appends the utterances waiting to the note's transcript
// log, with the offset they reach; after a failure they wait for the next
// append. The pump's.
func (ss *session) saveTranscript() {
	rn, ok := ss.srv.opts.Notes.(recordingNotes)
	if !ok || ss.srv.opts.Audio == nil {
		return
	}
	utts, through, ok := ss.tr.unsavedNow()
	if !ok {
		return
	}
	if err := rn.AppendTranscript(ss.srv.base, ss.note.ID, utts, through); err != nil {
		ss.srv.log.Warn("store utterances", append(ss.attrs(), "utterances", len(utts), "err", err)...)
		return
	}
	ss.tr.saved(through)
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
