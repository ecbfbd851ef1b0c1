package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// A recording note's final utterances are entries of a list, one per
// append, rather than part of the note's value: appending is one RPUSH
// however long the consultation has run.

func (s *Store) transcriptKey(id string) string { return s.k("transcript", id) }

// transcriptEntry is one append of the transcript log.
type transcriptEntry struct {
	Through    int64       `json:"t"`
	Utterances []note.Line `json:"u"`
}

// AppendTranscript implements review.Store.
func (s *Store) AppendTranscript(ctx context.Context, noteID string, utts []note.Line, through int64) error {
	body, err := json.Marshal(transcriptEntry{Through: through, Utterances: utts})
	if err != nil {
		return fmt.Errorf("redisstore: encode transcript: %w", err)
	}
	keys := []string{s.noteKey(noteID), s.transcriptKey(noteID)}
	st, err := appendTranscriptScript.Run(ctx, s.c, keys, body, string(review.StateRecording)).Text()
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: append transcript: %w", err)
	case st == "":
		return review.ErrNotFound
	case st != string(review.StateRecording):
		return &review.StateError{Action: "append transcript to", State: review.State(st)}
	}
	return nil
}

// appendTranscriptScript appends ARGV[1] to the log KEYS[2] if the note
// KEYS[1] is in state ARGV[2], and returns the note's state ("" when
// there is no note).
var appendTranscriptScript = redis.NewScript(`
local body = redis.call('GET', KEYS[1])
if not body then return '' end
local state = cjson.decode(body)['state']
if state == ARGV[2] then
	redis.call('RPUSH', KEYS[2], ARGV[1])
end
return state
`)

// ReadTranscript implements review.Store.
func (s *Store) ReadTranscript(ctx context.Context, noteID string) ([]note.Line, int64, error) {
	entries, err := s.c.LRange(ctx, s.transcriptKey(noteID), 0, -1).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: read transcript: %w", err)
	}
	var (
		out     []note.Line
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
