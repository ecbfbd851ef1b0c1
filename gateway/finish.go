package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// finish turns what was received into a note waiting for review: it
// flushes the stream, drafts, and stores the draft. It returns the close
// code the outcome calls for.
func (ss *session) finish(ctx context.Context, log *slog.Logger, pumpDone <-chan struct{}) (int, string) {
	s := ss.srv
	if err := ss.stream.Close(); err != nil {
		log.Error("close transcription stream", "err", err)
		ss.sendError(apierror.CodeTranscriptionError, "some audio could not be transcribed; the note marks the gaps")
	}
	<-pumpDone
	ss.live.stop() // no live draft may follow the final one
	ss.stopProgress()
	if ss.p.progress {
		ss.send(ss.progressNow("drafting"))
	}
	transcript := ss.tr.now()
	if ss.discardEmpty(ctx, log, transcript) {
		return websocket.CloseNormalClosure, ""
	}

	tpl := ss.p.template
	if err := whileUnavailable(ctx, func() error {
		_, err := s.opts.Notes.SetDraft(ctx, ss.note.ID, note.Draft{Template: tpl.ID, Sections: []note.Section{}}, transcript, review.StateDrafting)
		return err
	}); err != nil {
		log.Error("store transcript", "err", err)
		if errors.Is(err, review.ErrUnavailable) {
			// The note stays recording with its audio: resumed or
			// finished later, by this instance or another.
			ss.sendError(apierror.CodeStoreUnavailable, "the store is unavailable; resume this session later")
			return storeOutageEnd.code, storeOutageEnd.reason
		}
		ss.sendError(apierror.CodeSessionFailed, "the transcript could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	draft, err := s.drafterFor(ss.note.Clinic).Draft(dctx, tpl, transcript)
	cancel()
	code, reason := websocket.CloseNormalClosure, ""
	if err != nil {
		log.Error("draft note", "err", err)
		ss.sendError(apierror.CodeDraftFailed, "the note could not be drafted; it is queued with the transcript and empty sections to write by hand")
		draft = emptyDraft(tpl)
		code, reason = websocket.CloseInternalServerErr, "draft failed"
	}
	var n *review.Note
	err = whileUnavailable(ctx, func() (err error) {
		n, err = s.opts.Notes.SetDraft(ctx, ss.note.ID, draft, transcript, review.StatePendingReview)
		return err
	})
	if err != nil {
		log.Error("store draft", "err", err)
		ss.sendError(apierror.CodeSessionFailed, "the draft could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	ss.send(wire.NoteDraft{Type: "NoteDraft", NoteID: n.ID, Version: n.Version, Draft: n.Draft})
	ss.send(wire.NoteReady{Type: "NoteReady", NoteID: n.ID, Version: n.Version, State: string(n.State), ReviewURL: noteapi.ReviewURL(n.ID)})
	ss.sendMetadata()
	return code, reason
}

// sendMetadata sends Deepgram's closing Metadata. Its duration is all the
// audio the session holds, however many streams (a rebuilt session's
// starts part-way) transcribed it.
func (ss *session) sendMetadata() {
	ss.send(wire.Metadata{
		Type:           "Metadata",
		TransactionKey: "deprecated",
		RequestID:      ss.id,
		SHA256:         hex.EncodeToString(ss.hash.Sum(nil)),
		Created:        ss.created.Format(time.RFC3339Nano),
		Duration:       float64(ss.received/2) / float64(ss.p.sampleRate),
		Channels:       1,
		Models:         []string{},
		ModelInfo:      map[string]any{},
	})
}

// emptyDiscarder removes a recording note that got no audio;
// *review.Service has it.
type emptyDiscarder interface {
	DiscardEmpty(ctx context.Context, id string) error
}

// discardEmpty removes the note of a session that ended before any audio
// came, and its audio record, rather than queue an empty draft. It
// reports false, doing nothing, when the session has audio or a
// transcript, or the note service cannot discard.
func (ss *session) discardEmpty(ctx context.Context, log *slog.Logger, transcript []note.Line) bool {
	d, ok := ss.srv.opts.Notes.(emptyDiscarder)
	if !ok || ss.received > 0 || len(transcript) > 0 {
		return false
	}
	if err := d.DiscardEmpty(ctx, ss.note.ID); err != nil {
		log.Warn("empty session's note not discarded: it is drafted", "err", err)
		return false
	}
	if a := ss.srv.opts.Audio; a != nil {
		if err := a.DeleteAudio(ctx, ss.id); err != nil {
			log.Warn("delete empty session's audio record", "err", err)
		}
	}
	log.Info("session ended with no audio: no note queued")
	ss.sendMetadata()
	return true
}

// emptyDraft is the template with nothing filled in, so a note whose
// drafting failed still reaches the queue and can be written by hand.
func emptyDraft(t notes.Template) note.Draft {
	d := note.Draft{Template: t.ID, Drafter: "none", Fallback: "drafting failed", Sections: []note.Section{}}
	for _, sec := range t.Sections {
		d.Sections = append(d.Sections, note.Section{ID: sec.ID, Title: sec.Title, Sentences: []note.Sentence{}})
	}
	return d
}
