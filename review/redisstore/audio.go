package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
)

var _ review.AudioStore = (*Store)(nil)

// Audio layout, under the same prefix as the notes:
//
//	audio:{session}   the session's audio as one string, appended to
//	audios            sorted set of sessions with audio, scored by the
//	                  time (ms) they were first seen
//
// One string per session keeps appends and range reads single commands;
// Redis caps a string at 512 MB, about 4.6 hours of 16 kHz audio or 1.5
// hours at 48 kHz, past which AppendAudio fails (the session then ends with
// its audio so far kept).

func (s *Store) audioKey(id string) string { return s.k("audio", id) }
func (s *Store) audiosKey() string         { return s.k("audios") }

// appendAudioScript appends ARGV[2] at offset ARGV[1] atomically: bytes
// below the stored size must match; an offset beyond it is a gap.
var appendAudioScript = redis.NewScript(`
local size = redis.call('STRLEN', KEYS[1])
local off = tonumber(ARGV[1])
local data = ARGV[2]
if redis.call('ZSCORE', KEYS[2], ARGV[3]) == false then
	redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
if off > size then return {-1, size} end
local overlap = math.min(size - off, #data)
if overlap > 0 then
	if redis.call('GETRANGE', KEYS[1], off, off + overlap - 1) ~= string.sub(data, 1, overlap) then
		return {-2, size}
	end
end
if overlap < #data then
	size = redis.call('APPEND', KEYS[1], string.sub(data, overlap + 1))
end
return {0, size}
`)

// AppendAudio implements review.AudioStore.
func (s *Store) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	batch := []review.AudioAppend{{SessionID: id, Offset: offset, Data: data}}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		return 0, err
	}
	return batch[0].Size, batch[0].Err
}

// AppendAudioBatch implements review.AudioStore: one pipeline of the
// append script, one round trip for the whole batch. Each append is
// atomic on its own; the batch is not a transaction, which the interface
// allows since appends are idempotent and a failed batch is sent again.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if len(batch) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	cmds := make([]*redis.Cmd, len(batch))
	var conf *confirmation
	run := func(load bool) {
		s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				a := &batch[i]
				if a.Offset < 0 {
					continue // answered below without a round trip
				}
				keys := []string{s.audioKey(a.SessionID), s.audiosKey()}
				if load {
					cmds[i] = appendAudioScript.Eval(ctx, p, keys, a.Offset, a.Data, a.SessionID, now)
				} else {
					cmds[i] = appendAudioScript.EvalSha(ctx, p, keys, a.Offset, a.Data, a.SessionID, now)
				}
			}
			// On the pipeline's connection, after its appends: the batch
			// is acknowledged (Durable) only once replicas have it, or
			// sent again.
			conf = s.confirm(ctx, p)
			return nil
		})
	}
	run(false)
	for _, c := range cmds {
		if c == nil {
			continue
		}
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server does not have the script yet: send it with the
			// batch again (the appends that ran are not repeated).
			run(true)
			break
		}
	}
	if err := s.confirmed(ctx, conf); err != nil {
		return fmt.Errorf("redisstore: append audio: %w", err)
	}
	for i, c := range cmds {
		a := &batch[i]
		a.Size, a.Err = 0, nil
		if a.Offset < 0 {
			a.Err = fmt.Errorf("redisstore: append audio at %d: %w", a.Offset, review.ErrAudioGap)
			continue
		}
		res, err := c.Int64Slice()
		if err != nil {
			if strings.Contains(err.Error(), "string exceeds maximum allowed size") {
				a.Err = fmt.Errorf("redisstore: audio of session %s reached Redis's 512 MB string limit: %w", a.SessionID, err)
				continue
			}
			return fmt.Errorf("redisstore: append audio: %w", err)
		}
		switch res[0] {
		case -1:
			a.Err = fmt.Errorf("redisstore: append at %d to audio of %d bytes: %w", a.Offset, res[1], review.ErrAudioGap)
		case -2:
			a.Err = fmt.Errorf("redisstore: audio at %d: %w", a.Offset, review.ErrAudioMismatch)
		default:
			a.Size = res[1]
		}
	}
	return nil
}

// AudioSize implements review.AudioStore.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	if err := s.c.ZScore(ctx, s.audiosKey(), id).Err(); err != nil {
		if errors.Is(err, redis.Nil) {
			return 0, review.ErrNotFound
		}
		return 0, fmt.Errorf("redisstore: audio size: %w", err)
	}
	n, err := s.c.StrLen(ctx, s.audioKey(id)).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: audio size: %w", err)
	}
	return n, nil
}

// ReadAudio implements review.AudioStore.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	size, err := s.AudioSize(ctx, id)
	if err != nil {
		return nil, err
	}
	from = max(from, 0)
	if from >= size {
		return []byte{}, nil
	}
	// GETRANGE with end -1 reads to the end, including bytes appended
	// since AudioSize: always a whole prefix of the session's audio.
	b, err := s.c.GetRange(ctx, s.audioKey(id), from, -1).Bytes()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read audio: %w", err)
	}
	return b, nil
}

// DeleteAudio implements review.AudioStore.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.audioKey(id))
		p.ZRem(ctx, s.audiosKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: delete audio: %w", err)
	}
	return nil
}

// ListAudio implements review.AudioStore.
func (s *Store) ListAudio(ctx context.Context) ([]string, error) {
	ids, err := s.c.ZRange(ctx, s.audiosKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list audio: %w", err)
	}
	return ids, nil
}
