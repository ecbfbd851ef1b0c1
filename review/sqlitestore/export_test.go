package sqlitestore

import (
	"context"
	"time"
)

// TranscriptStats returns how many transactions of transcript appends the
// store has committed and how many appends they held.
func (s *Store) TranscriptStats() (txs, appends int64) {
	return s.tc.txs.Load(), s.tc.appends.Load()
}

// OpenGrouped is Open with the transcript committer's window and group
// size chosen by the test.
func OpenGrouped(ctx context.Context, path string, window time.Duration, group int) (*Store, error) {
	return openStore(ctx, path, window, group)
}
