package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// Recording is the streaming state of a note still being recorded, kept
// with the note so that a session survives its connection and its
// gateway: the stored audio (AudioStore, keyed by the note's SessionID)
// and Transcribed say where transcription picks up again.
type Recording struct {
	// SampleRate is the rate of the stored audio (linear16 mono); a
	// resumed session must send the same.
	SampleRate int `json:"sample_rate"`
	// Language is the session's language, for the engine.
	Language string `json:"language,omitempty"`
	// Keyterms are the words the client asked the engine to expect
	// (keyterm/keywords), kept so that a rebuilt session has them too.
	Keyterms []string `json:"keyterms,omitempty"`
	// FillerWords and Numerals are the session's Deepgram options
	// (filler_words, numerals), so that a rebuilt session keeps them.
	FillerWords bool `json:"filler_words,omitempty"`
	Numerals    bool `json:"numerals,omitempty"`
	// Transcribed is the offset in bytes of the client's audio up to which
	// the note's Transcript is final: audio after it is transcribed again
	// when the session is rebuilt, audio before it never is.
	Transcribed int64 `json:"transcribed"`
}

// AppendTranscript adds final utterances to a note being recorded and
// moves its transcribed offset to through (a system action), in one
// append to the store's transcript log, so the transcript and the offset
// it covers never disagree; the store checks, in the same step, that the
// note is being recorded. A smaller through than one appended before
// never moves the offset back. It makes no new version and writes no
// audit entry: a recording note is nobody's to read or edit yet, and a
// session appends its utterances every few seconds as they come. SessionNote returns the note with
// the log applied; SetDraft, storing the whole transcript, ends the log.
func (s *Service) AppendTranscript(ctx context.Context, id string, utts []note.Line, through int64) error {
	if err := s.store.AppendTranscript(ctx, id, utts, through); err != nil {
		var se *StateError
		if errors.Is(err, ErrNotFound) || errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("review: append transcript to %s: %w", id, err)
	}
	return nil
}

// SessionNote returns a note for the gateway's own use (resuming or
// finishing its session), without an access check or an audit entry: the
// gateway checks the caller is the note's clinician itself. A recording
// note comes with its transcript log applied.
func (s *Service) SessionNote(ctx context.Context, id string) (*Note, error) {
	n, err := s.store.GetNote(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("review: get note %s: %w", id, err)
	}
	if n.State != StateRecording {
		return n, nil
	}
	utts, through, err := s.store.ReadTranscript(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("review: read transcript of %s: %w", id, err)
	}
	if n.Recording == nil {
		n.Recording = &Recording{}
	}
	n.Transcript = applyTranscript(n.Transcript, utts)
	n.Recording.Transcribed = max(n.Recording.Transcribed, through)
	return n, nil
}

// applyTranscript applies logged utterances to a transcript: an utterance
// with a new Index is appended; one with the Index of a gap replaces the
// gap (ReplaceUtterance logged it), or removes it when it has no text;
// one with the Index of recognised words changes nothing.
func applyTranscript(t []note.Line, log []note.Line) []note.Line {
	if len(log) == 0 {
		return t
	}
	at := make(map[int]int, len(t)+len(log)) // Index to position in t
	for i, u := range t {
		at[u.Index] = i
	}
	removed := false
	for _, u := range log {
		i, ok := at[u.Index]
		switch {
		case !ok:
			at[u.Index] = len(t)
			t = append(t, u)
		case !t[i].Gap:
			// Recognised words are never overwritten.
		case u.Text == "" && !u.Gap:
			t[i].Index, removed = -1, true // no speech after all: the gap goes
		default:
			t[i] = u
		}
	}
	if removed {
		t = slices.DeleteFunc(t, func(u note.Line) bool { return u.Index == -1 })
	}
	return t
}

// ReplaceUtterance puts u in place of the gap with the same Index in a
// note being recorded (a system action, like AppendTranscript): a late
// retry of the engine recognised audio that had become a gap marker. Only
// a gap is replaced, so recognised words are never overwritten; an empty
// Text removes the gap (the engine heard no speech there); a note without
// that gap is left alone and ErrInvalid returned. The replacement is
// appended to the transcript log, moving no offset.
func (s *Service) ReplaceUtterance(ctx context.Context, id string, u note.Line) (*Note, error) {
	n, err := s.SessionNote(ctx, id)
	if err != nil {
		return nil, err
	}
	if n.State != StateRecording {
		return nil, &StateError{Action: "replace an utterance of", State: n.State}
	}
	i := slices.IndexFunc(n.Transcript, func(t note.Line) bool { return t.Index == u.Index && t.Gap })
	if i < 0 {
		return nil, fmt.Errorf("%w: no gap with index %d", ErrInvalid, u.Index)
	}
	u.Gap = false
	if err := s.AppendTranscript(ctx, id, []note.Line{u}, 0); err != nil {
		return nil, err
	}
	n.Transcript = applyTranscript(n.Transcript, []note.Line{u})
	return n, nil
}

// SessionHeldError is returned by ClaimSession when another gateway
// process holds the session's lease: the session is live there.
type SessionHeldError struct {
	Owner string
	Until time.Time
}

func (e *SessionHeldError) Error() string {
	return fmt.Sprintf("review: the session is held by gateway %s until %s", e.Owner, e.Until.Format(time.RFC3339))
}

// Unwrap lets errors.Is(err, ErrLocked) match.
func (e *SessionHeldError) Unwrap() error { return ErrLocked }

// SharedStore is implemented by stores that several gateway processes use
// at once (Redis); SharedAcrossProcesses reports that they may. A store
// one process owns (SQLite: one process per file) needs no leases.
type SharedStore interface {
	SharedAcrossProcesses() bool
}

// ClaimSession takes, or renews, owner's lease on a streaming session
// until ttl from now. Gateways sharing a store hold a lease on each session
// they serve, so that none rebuilds a session live in another (at its
// start, or when a client's reconnection reaches it): a session is served
// by one process at a time. It fails with a *SessionHeldError while
// another owner's lease is live. The lease is a soft lock (Store.TakeLock)
// under "session:"+id, which no note id can be. On a store only one
// process uses it always succeeds, writing nothing.
func (s *Service) ClaimSession(ctx context.Context, id, owner string, ttl time.Duration) error {
	if !s.shared() {
		return nil
	}
	now := s.clock()
	l, err := s.store.TakeLock(ctx, Lock{NoteID: sessionLock(id), Holder: owner, Name: "gateway", ExpiresAt: now.Add(ttl)}, now)
	if errors.Is(err, ErrLocked) {
		return &SessionHeldError{Owner: l.Holder, Until: l.ExpiresAt}
	}
	if err != nil {
		return fmt.Errorf("review: claim session %s: %w", id, err)
	}
	return nil
}

// ReleaseSession gives up owner's lease on a session it has finished (a
// no-op when owner holds none).
func (s *Service) ReleaseSession(ctx context.Context, id, owner string) error {
	if !s.shared() {
		return nil
	}
	if err := s.store.ReleaseLock(ctx, sessionLock(id), owner); err != nil {
		return fmt.Errorf("review: release session %s: %w", id, err)
	}
	return nil
}

func (s *Service) shared() bool {
	ss, ok := s.store.(SharedStore)
	return ok && ss.SharedAcrossProcesses()
}

func sessionLock(id string) string { return "session:" + id }

// DiscardEmpty removes a note whose recording ended before any audio came
// (a system action): a consultation that never started has nothing for a
// clinician to review, and an empty draft in the queue is only noise. It
// refuses, with ErrInvalid, a note that is not recording or that has a
// transcript.
func (s *Service) DiscardEmpty(ctx context.Context, id string) error {
	n, err := s.SessionNote(ctx, id)
	if err != nil {
		return err
	}
	if n.State != StateRecording || len(n.Transcript) > 0 {
		return fmt.Errorf("%w: note %s is %s with %d utterances, not an empty recording", ErrInvalid, id, n.State, len(n.Transcript))
	}
	if err := s.store.DeleteNote(ctx, id); err != nil {
		return fmt.Errorf("review: discard note %s: %w", id, err)
	}
	return nil
}
