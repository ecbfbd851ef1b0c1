package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/clientconn"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// drafting is the drafting part of a session: its note, the live drafts
// sent while the consultation goes on, and at the end the note drafted
// from the final transcript and queued for review. It reads the
// transcript and the audio log, and sends through the connection.
type drafting struct {
	srv      *Server
	id       string // the session's
	created  time.Time
	template notes.Template
	note     *review.Note // nil until the session has its note
	conn     *clientconn.Conn
	text     *transcriber
	audio    *audioLog
	live     *liveDrafts // nil when live drafts are off
}

// kick says utterances became final (live drafts); it never blocks.
func (d *drafting) kick() { d.live.kick() }

// stopLive ends live drafting: no live draft follows.
func (d *drafting) stopLive() { d.live.stop() }

// finish turns the final transcript into a note waiting for review: it
// stores the transcript (the note is drafting), drafts and stores the
// draft. It returns the close code the outcome calls for. A gateway that
// dies between the two saves leaves the note drafting; the next recovery
// drafts it from the stored transcript (redraft).
func (d *drafting) finish(ctx context.Context, log *slog.Logger) (int, string) {
	s := d.srv
	transcript := d.text.now()
	if d.discardEmpty(ctx, log, transcript) {
		return websocket.CloseNormalClosure, ""
	}

	tpl := d.template
	if err := whileUnavailable(ctx, func() error {
		_, err := s.opts.Notes.SetDraft(ctx, d.note.ID, note.Draft{Template: tpl.ID, Sections: []note.Section{}}, transcript, review.StateDrafting)
		return err
	}); err != nil {
		log.Error("store transcript", "err", err)
		if errors.Is(err, review.ErrUnavailable) {
			// The note stays recording with its audio: resumed or
			// finished later, by this instance or another.
			d.conn.SendError(apierror.CodeStoreUnavailable, "the store is unavailable; resume this session later")
			return storeOutageEnd.code, storeOutageEnd.reason
		}
		d.conn.SendError(apierror.CodeSessionFailed, "the transcript could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	code, reason := websocket.CloseNormalClosure, ""
	n, draftErr, err := s.queueDraft(ctx, d.note, tpl, transcript)
	if draftErr != nil {
		log.Error("draft note", "err", draftErr)
		d.conn.SendError(apierror.CodeDraftFailed, "the note could not be drafted; it is queued with the transcript and empty sections to write by hand")
		code, reason = websocket.CloseInternalServerErr, "draft failed"
	}
	if err != nil {
		log.Error("store draft", "err", err)
		d.conn.SendError(apierror.CodeSessionFailed, "the draft could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	d.conn.Send(wire.NoteDraft{Type: "NoteDraft", NoteID: n.ID, Version: n.Version, Draft: n.Draft})
	d.conn.Send(wire.NoteReady{Type: "NoteReady", NoteID: n.ID, Version: n.Version, State: string(n.State), ReviewURL: noteapi.ReviewURL(n.ID)})
	d.sendMetadata()
	return code, reason
}

// queueDraft drafts a note's final transcript with tpl by its clinic's
// drafter and stores the draft, moving the note from recording or
// drafting to pending_review. A drafter that fails (draftErr) does not
// keep the note from the queue: it is stored with the template's empty
// sections to write by hand. err says the draft was not stored; the
// store's state check makes it a *review.StateError when the note was
// queued already (another gateway recovered it first).
func (s *Server) queueDraft(ctx context.Context, n *review.Note, tpl notes.Template, transcript []note.Line) (queued *review.Note, draftErr, err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	draft, draftErr := s.drafterFor(n.Clinic).Draft(dctx, tpl, transcript)
	cancel()
	if draftErr != nil {
		draft = emptyDraft(tpl)
	}
	err = whileUnavailable(ctx, func() (err error) {
		queued, err = s.opts.Notes.SetDraft(ctx, n.ID, draft, transcript, review.StatePendingReview)
		return err
	})
	return queued, draftErr, err
}

// sendMetadata sends Deepgram's closing Metadata. Its duration is all the
// audio the session holds, however many streams (a rebuilt session's
// starts part-way) transcribed it.
func (d *drafting) sendMetadata() {
	d.conn.Send(wire.Metadata{Type: "Metadata", RequestMetadata: wire.RequestMetadata{
		TransactionKey: "deprecated",
		RequestID:      d.id,
		SHA256:         hex.EncodeToString(d.audio.hash.Sum(nil)),
		Created:        d.created.Format(time.RFC3339Nano),
		Duration:       d.audio.seconds(),
		Channels:       1,
		Models:         []string{},
		ModelInfo:      map[string]any{},
	}})
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
func (d *drafting) discardEmpty(ctx context.Context, log *slog.Logger, transcript []note.Line) bool {
	dis, ok := d.srv.opts.Notes.(emptyDiscarder)
	if !ok || d.audio.received > 0 || len(transcript) > 0 {
		return false
	}
	if err := dis.DiscardEmpty(ctx, d.note.ID); err != nil {
		log.Warn("empty session's note not discarded: it is drafted", "err", err)
		return false
	}
	if a := d.srv.opts.Audio; a != nil {
		if err := a.DeleteAudio(ctx, d.id); err != nil {
			log.Warn("delete empty session's audio record", "err", err)
		}
	}
	log.Info("session ended with no audio: no note queued")
	d.sendMetadata()
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
