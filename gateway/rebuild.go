package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// Abort stops every session at once without finishing it, as a crash
// would: notes stay recording (or drafting, caught between finish's two
// saves) and their stored audio is kept, so a gateway started on the
// same store resumes or finishes them (Recover).
// It is for tests and for a hard stop; Shutdown is the graceful way.
func (s *Server) Abort() {
	s.mu.Lock()
	s.draining = true // no new sessions; drain stays open: nothing finishes
	s.mu.Unlock()
	s.cancel()
	s.sessions.Wait()
}

// Recover takes over the sessions a stopped gateway left recording: each
// waits for its client for what is left of the resume window after its
// last stored utterance, and is finished from its stored audio when no
// client returns. A note it left drafting (it stopped between storing the
// transcript and the draft) is drafted from its stored transcript and
// queued for review. Call it once, before serving.
//
// Sessions another gateway sharing the store holds (a live lease) are
// left to it; if there were any, Recover looks again once their leases
// could have run out, in case that gateway has stopped.
//
// On a store several gateways share, it then looks again every
// Limits.OrphanScan for sessions orphaned by an instance that died.
func (s *Server) Recover(ctx context.Context) error {
	if err := s.recover(ctx, true); err != nil {
		return err
	}
	s.scanOrphans()
	return nil
}

func (s *Server) recover(ctx context.Context, again bool) error {
	held := 0
	a := s.opts.Audio
	rn, ok := s.opts.Notes.(recordingNotes)
	if a == nil || !ok {
		return nil
	}
	ids, err := a.ListAudio(ctx)
	if err != nil {
		return fmt.Errorf("gateway: recover sessions: %w", err)
	}
	for _, id := range ids {
		n, err := rn.SessionNote(ctx, id)
		if err != nil {
			if errors.Is(err, review.ErrNotFound) {
				continue
			}
			return fmt.Errorf("gateway: recover session %s: %w", id, err)
		}
		s.recs.rebuilding.Lock() // not rebuilt by a resume meanwhile
		switch {
		case s.lookup(id) != nil:
			err = nil // live here: its session finishes it
		case n.State == review.StateRecording:
			err = s.recoverOne(ctx, n)
		case n.State == review.StateDrafting:
			err = s.redraft(ctx, rn, n)
		default:
			err = nil
		}
		s.recs.rebuilding.Unlock()
		if heldElsewhere(err) {
			held++
		} else if err != nil {
			return err
		}
	}
	if held > 0 && again {
		s.log.Info("sessions held by other gateways: looking again once their leases could have run out", "sessions", held, "after", s.limits.SessionLease)
		time.AfterFunc(s.limits.SessionLease+time.Second, func() {
			if s.base.Err() != nil || s.isDraining() {
				return
			}
			if err := s.recover(s.base, false); err != nil {
				s.log.Error("recover sessions", "err", err)
			}
		})
	}
	return nil
}

// recoverOne takes over one session left recording: it claims its lease
// (a *review.SessionHeldError while it is live in another gateway, whose
// lease runs out if that one has stopped), and rebuilds it to wait for its
// client for what is left of the resume window.
func (s *Server) recoverOne(ctx context.Context, n *review.Note) error {
	id := n.SessionID
	if err := s.claim(ctx, id); err != nil {
		if heldElsewhere(err) {
			return err
		}
		return fmt.Errorf("gateway: recover session %s: %w", id, err)
	}
	if err := s.admit(clinicianKey{n.Clinic, n.Clinician}); err != nil {
		// Over the limit: finish it now rather than hold it.
		s.admitForce(clinicianKey{n.Clinic, n.Clinician})
	}
	wait := s.limits.ResumeWindow - time.Since(n.UpdatedAt)
	if _, err := s.rebuild(ctx, n, max(wait, 0)); err != nil {
		s.release(clinicianKey{n.Clinic, n.Clinician})
		s.releaseLease(ctx, id)
		s.log.Error("recover session", "session_id", id, "note_id", n.ID, "err", err)
		return nil
	}
	s.log.Info("session recovered", "session_id", id, "note_id", n.ID, "wait", max(wait, 0))
	return nil
}

// redraft queues a note a stopped gateway left drafting: under this
// gateway's lease on its session (a *review.SessionHeldError while another
// gateway, finishing the session, holds it), it drafts the stored
// transcript in the background as finish would have, and stores the draft
// as pending_review — with empty sections if drafting fails. The note is
// read again once the lease is held, so one queued meanwhile is left
// alone; should another gateway queue it while this one drafts, the
// store's state check refuses this one's draft: the note moves once.
func (s *Server) redraft(ctx context.Context, rn recordingNotes, n *review.Note) error {
	id := n.SessionID
	if !s.recs.startRedraft(id) {
		return nil // being drafted here already
	}
	if err := s.claim(ctx, id); err != nil {
		s.recs.endRedraft(id)
		if heldElsewhere(err) {
			return err
		}
		return fmt.Errorf("gateway: recover session %s: %w", id, err)
	}
	n, err := rn.SessionNote(ctx, id)
	if err != nil || n.State != review.StateDrafting || !s.startSession() {
		s.recs.endRedraft(id)
		s.releaseLease(ctx, id)
		if err != nil && !errors.Is(err, review.ErrNotFound) {
			return fmt.Errorf("gateway: recover session %s: %w", id, err)
		}
		return nil
	}
	go func() {
		defer s.sessions.Done()
		defer s.recs.endRedraft(id)
		defer s.releaseLease(s.base, id)
		log := s.log.With("session_id", id, "note_id", n.ID)
		queued, draftErr, err := s.queueDraft(s.base, n, s.templateOf(n), n.Transcript)
		if draftErr != nil {
			log.Error("draft recovered note: queued with empty sections", "err", draftErr)
		}
		var se *review.StateError
		switch {
		case errors.As(err, &se):
			log.Info("recovered note queued by another gateway first", "state", se.State)
		case err != nil:
			log.Error("store recovered note's draft: it stays drafting", "err", err)
		default:
			log.Info("note recovered from drafting", "version", queued.Version)
		}
	}()
	return nil
}

// templateOf is the template n was recorded with, or the default of its
// clinician should that one be gone.
func (s *Server) templateOf(n *review.Note) notes.Template {
	tpl, err := s.opts.Templates.Get(n.Template)
	if err != nil {
		tpl = s.opts.Templates.Default(n.Clinic, n.Clinician)
	}
	return tpl
}

func (s *Server) admitForce(clinician clinicianKey) {
	s.recs.mu.Lock()
	s.recs.total++
	s.recs.perClinician[clinician]++
	s.recs.mu.Unlock()
}

// rebuild makes a session from a recording note and its stored audio: the
// transcript so far, and the audio after its transcribed offset given to a
// new stream. The session then waits up to wait for a client (attach) and
// is finished if none comes. The caller has admitted it.
func (s *Server) rebuild(ctx context.Context, n *review.Note, wait time.Duration) (*session, error) {
	rec := n.Recording
	if rec == nil || rec.SampleRate == 0 {
		rec = &review.Recording{SampleRate: 16000}
	}
	audio, err := s.opts.Audio.ReadAudio(ctx, n.SessionID, 0)
	if err != nil {
		return nil, err
	}
	tpl := s.templateOf(n)
	if !s.startSession() {
		return nil, errors.New("gateway: shutting down")
	}
	claims := auth.Claims{Clinic: n.Clinic, Name: n.ClinicianName, Role: review.RoleClinician}
	claims.Subject = n.Clinician
	p := listenParams{sampleRate: rec.SampleRate, language: rec.Language, keyterms: rec.Keyterms, patient: n.Patient, encounter: n.Encounter,
		template: tpl, connector: n.Connector, dg: deepgramOptions{fillerWords: rec.FillerWords, numerals: rec.Numerals, tags: n.Tags}}
	ss := s.assemble(n.SessionID, nil, claims, p, n.CreatedAt)
	ss.sniffing = false // the note does not say how the audio came: it is taken as linear16
	ss.setNote(n)
	text := ss.text
	text.tr.lines = append([]note.Line(nil), n.Transcript...)
	// The transcript may cover audio beyond what was stored (acknowledged
	// audio lags the stream): the client resends it, and accept stores it
	// without giving it to the stream again.
	through := rec.Transcribed
	through -= through % 2
	text.streamFrom, text.tr.savedThrough = through, rec.Transcribed
	text.baseTime = time.Duration(through/2) * time.Second / time.Duration(rec.SampleRate)
	if len(n.Transcript) > 0 {
		text.baseIndex = n.Transcript[len(n.Transcript)-1].Index + 1
	}
	log := ss.log.With("note_id", n.ID)
	if err := text.open(log); err != nil {
		s.sessions.Done()
		return nil, err
	}
	ss.audio.hold(audio)
	text.heardThrough = ss.audio.received
	if tail := audio[min(through, int64(len(audio))):]; len(tail) > 0 {
		if err := text.stream.Write(tail); err != nil {
			text.stream.Close()
			s.sessions.Done()
			return nil, err
		}
		text.fed.Store(int64(len(tail)))
	}
	text.retryGaps(log, n.Transcript, audio)
	ss.openLog()
	s.register(ss)
	go ss.serveRebuilt(log, wait)
	return ss, nil
}

// serveRebuilt runs a rebuilt session: it waits for its client, serves it
// if it comes, and finishes the note either way.
func (ss *session) serveRebuilt(log *slog.Logger, wait time.Duration) {
	s := ss.srv
	defer s.sessions.Done()
	defer s.release(clinicianKey{ss.claims.Clinic, ss.claims.Subject})
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	ss.conn.StartWriter()
	ss.text.startPump()

	end := endReason{name: "recovered_unclaimed", code: websocket.CloseNormalClosure}
	if ss.awaitResume(wait) {
		ss.conn.Touch()
		end = ss.loop()
	} else if ss.isMoved() {
		end = movedEnd
	}
	ss.end(log, end)
}

// rebuildFor returns the session of n, live in this gateway, or rebuilt
// from the store under this gateway's lease to wait for its client.
func (s *Server) rebuildFor(ctx context.Context, n *review.Note) (*session, error) {
	s.recs.rebuilding.Lock()
	defer s.recs.rebuilding.Unlock()
	if ss := s.lookup(n.SessionID); ss != nil {
		return ss, nil
	}
	if err := s.claim(ctx, n.SessionID); err != nil {
		return nil, err
	}
	if err := s.admit(clinicianKey{n.Clinic, n.Clinician}); err != nil {
		s.releaseLease(ctx, n.SessionID)
		return nil, err
	}
	ss, err := s.rebuild(ctx, n, s.limits.ResumeWindow)
	if err != nil {
		s.release(clinicianKey{n.Clinic, n.Clinician})
		s.releaseLease(ctx, n.SessionID)
		return nil, err
	}
	return ss, nil
}
