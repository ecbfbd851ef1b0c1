package review

import (
	"context"
	"fmt"
	"time"

	"github.com/scribegate/scribegate/transcription/notes"
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
	// Transcribed is the offset in bytes of the client's audio up to which
	// the note's Transcript is final: audio after it is transcribed again
	// when the session is rebuilt, audio before it never is.
	Transcribed int64 `json:"transcribed"`
}

// AppendTranscript adds final utterances to a note being recorded and
// moves its transcribed offset to through (a system action), in one store
// update, so the transcript and the offset it covers never disagree. It
// makes no new version and writes no audit entry: a recording note is
// nobody's to read or edit yet, and a session appends many times.
func (s *Service) AppendTranscript(ctx context.Context, id string, utts []notes.Utterance, through int64) (*Note, error) {
	return s.update(ctx, id, func(n *Note, now time.Time) (*Change, error) {
		if n.State != StateRecording {
			return nil, &StateError{Action: "append transcript to", State: n.State}
		}
		if n.Recording == nil {
			n.Recording = &Recording{}
		}
		if through < n.Recording.Transcribed {
			return nil, fmt.Errorf("%w: transcript offset %d before %d", ErrInvalid, through, n.Recording.Transcribed)
		}
		n.Transcript = append(n.Transcript, utts...)
		n.Recording.Transcribed = through
		return nil, nil
	})
}

// SessionNote returns a note for the gateway's own use (resuming or
// finishing its session), without an access check or an audit entry: the
// gateway checks the caller is the note's clinician itself.
func (s *Service) SessionNote(ctx context.Context, id string) (*Note, error) {
	n, err := s.store.GetNote(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("review: get note %s: %w", id, err)
	}
	return n, nil
}

// ReplaceUtterance puts u in place of the gap with the same Index in a
// note being recorded (a system action, like AppendTranscript): a late
// retry of the engine recognised audio that had become a gap marker. Only
// a gap is replaced, so recognised words are never overwritten; an empty
// Text removes the gap (the engine heard no speech there); a note without
// that gap is left alone and ErrInvalid returned.
func (s *Service) ReplaceUtterance(ctx context.Context, id string, u notes.Utterance) (*Note, error) {
	return s.update(ctx, id, func(n *Note, now time.Time) (*Change, error) {
		if n.State != StateRecording {
			return nil, &StateError{Action: "replace an utterance of", State: n.State}
		}
		for i := range n.Transcript {
			if n.Transcript[i].Index == u.Index && n.Transcript[i].Gap {
				if u.Text == "" {
					n.Transcript = append(n.Transcript[:i], n.Transcript[i+1:]...)
				} else {
					n.Transcript[i] = u
				}
				return nil, nil
			}
		}
		return nil, fmt.Errorf("%w: no gap with index %d", ErrInvalid, u.Index)
	})
}
