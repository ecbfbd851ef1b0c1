package review

import (
	"context"
	"errors"
)

// AudioStore keeps a streaming session's audio exactly as the client sent
// it, so that a dropped connection or a gateway restart loses nothing: the
// gateway appends audio as it arrives and tells the client what is
// durable, a resumed session continues from the stored size, and a session
// no client returns to is transcribed again from what was stored.
//
// Offsets are bytes of the client's audio from the start of the session.
// Appends are idempotent, so a client that resends from an older offset
// (after a lost acknowledgement) changes nothing. Both stores implement it
// and pass storetest.RunAudio (in storetest.Run).
type AudioStore interface {
	// AppendAudio stores data at offset and returns the stored size after
	// it (the durable offset). Bytes below the stored size must equal what
	// is stored (ErrAudioMismatch otherwise) and are not stored twice; an
	// offset beyond the stored size is ErrAudioGap. An empty append at
	// offset 0 registers the session with no audio yet, so that
	// ListAudio finds it.
	AppendAudio(ctx context.Context, sessionID string, offset int64, data []byte) (int64, error)

	// AppendAudioBatch stores many appends, of one session or many, in
	// one transaction (SQLite) or one pipeline (Redis): the gateway
	// collects every session's pending audio every few milliseconds and
	// writes it at once (group commit), which costs far less than a write
	// per session and acknowledges sooner. Each append has the meaning of
	// AppendAudio and its own outcome in Size and Err (ErrAudioGap,
	// ErrAudioMismatch), appends of one session are applied in batch
	// order, and the error returned means none is known to be stored (a
	// retry is safe: appends are idempotent).
	AppendAudioBatch(ctx context.Context, batch []AudioAppend) error

	// AudioSize returns the stored size, or ErrNotFound for a session
	// with no audio record.
	AudioSize(ctx context.Context, sessionID string) (int64, error)

	// ReadAudio returns the stored audio from offset to its end (empty at
	// or beyond the end), or ErrNotFound.
	ReadAudio(ctx context.Context, sessionID string, from int64) ([]byte, error)

	// DeleteAudio removes a session's audio (retention: once its note no
	// longer needs it). Deleting what is not there is not an error.
	DeleteAudio(ctx context.Context, sessionID string) error

	// ListAudio returns the ids of every session with an audio record, so
	// a gateway starting up can finish the sessions a crashed one left.
	ListAudio(ctx context.Context) ([]string, error)
}

// AudioAppend is one append of AudioStore.AppendAudioBatch: the caller
// sets SessionID, Offset and Data; the store sets Size (the stored size
// after it) or Err.
type AudioAppend struct {
	SessionID string
	Offset    int64
	Data      []byte

	Size int64
	Err  error
}

// BatchAppender is the batch half of AudioStore, which AppendOne builds
// a single append on.
type BatchAppender interface {
	AppendAudioBatch(ctx context.Context, batch []AudioAppend) error
}

// AppendOne appends data at offset as a batch of one: AppendAudio for a
// store whose every append goes through its AppendAudioBatch (all of
// ours), so that a single append and a batch cannot come to differ.
func AppendOne(ctx context.Context, s BatchAppender, id string, offset int64, data []byte) (int64, error) {
	batch := []AudioAppend{{SessionID: id, Offset: offset, Data: data}}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		return 0, err
	}
	return batch[0].Size, batch[0].Err
}

// Audio store errors callers branch on with errors.Is.
var (
	// ErrAudioGap is returned by AppendAudio for an offset beyond the
	// stored size: audio in between would be missing.
	ErrAudioGap = errors.New("review: audio offset beyond stored size")
	// ErrAudioMismatch is returned by AppendAudio when resent bytes differ
	// from those stored at the same offset.
	ErrAudioMismatch = errors.New("review: resent audio differs from stored audio")
)
