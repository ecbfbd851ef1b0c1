package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scribegate/scribegate/transcription/notes"
)

// A recording note's final utterances are entries of a list, one per
// append, rather than part of the note's value: appending is one RPUSH
// however long the consultation has run.

func (s *Store) transcriptKey(id string) string { return s.k("transcript", id) }

// transcriptEntry is one append of the transcript log.
type transcriptEntry struct {
	Through    int64             `json:"t"`
	Utterances []notes.Utterance `json:"u"`
}

// AppendTranscript implements review.Store.
func (s *Store) AppendTranscript(ctx context.Context, noteID string, utts []notes.Utterance, through int64) error {
	body, err := json.Marshal(transcriptEntry{Through: through, Utterances: utts})
	if err != nil {
		return fmt.Errorf("redisstore: encode transcript: %w", err)
	}
	if err := s.c.RPush(ctx, s.transcriptKey(noteID), body).Err(); err != nil {
		return fmt.Errorf("redisstore: append transcript: %w", err)
	}
	return nil
}

// ReadTranscript implements review.Store.
func (s *Store) ReadTranscript(ctx context.Context, noteID string) ([]notes.Utterance, int64, error) {
	entries, err := s.c.LRange(ctx, s.transcriptKey(noteID), 0, -1).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: read transcript: %w", err)
	}
	var (
		out     []notes.Utterance
		through int64
	)
	for _, e := range entries {
		var te transcriptEntry
		if err := json.Unmarshal([]byte(e), &te); err != nil {
			return nil, 0, fmt.Errorf("redisstore: decode transcript of %s: %w", noteID, err)
		}
		out = append(out, te.Utterances...)
		through = max(through, te.Through)
	}
	return out, through, nil
}
