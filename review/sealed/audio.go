package sealed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/scribegate/scribegate/review"
)

// audioMagic starts the stored audio of a session sealed by Audio. Audio
// stored before encryption was turned on does not start so and is read
// and extended as it is.
const audioMagic = "SGSEAL1\n"

// Audio seals the audio a review.AudioStore keeps (the audio file store's
// journal, session files and backlogs, or Redis), so that it holds no
// byte of what the client sent. Offsets and sizes keep the client's
// meaning; underneath, each append a batch carries (a session's pending
// audio, a few milliseconds to a few hundred of it) becomes one record of
// the session's stored bytes: the key id, the length and the append's
// bytes sealed with AES-256-GCM, authenticated with the session id and the
// offset, so that records cannot be moved between sessions or places.
//
// Reads open every record (a session's audio is read whole, after a
// restart); a record under a key the ring lacks or that fails
// authentication fails the read. With a nil ring, new sessions are
// stored as given, and sealed ones cannot be read (ErrUnknownKey).
//
// The sizes of sessions in use are held in memory; one a batch could not
// write, or whose store disagreed, is read again before its next append,
// so a retried append compares the client's bytes with what was stored,
// as AudioStore promises.
func Audio(inner review.AudioStore, r *Ring) review.AudioStore {
	return &sealedAudio{inner: inner, ring: r, sessions: map[string]*audioState{}}
}

type sealedAudio struct {
	inner review.AudioStore
	ring  *Ring

	mu       sync.Mutex // serializes appends, guards sessions and the buffers
	sessions map[string]*audioState
	// buf and pending are kept from batch to batch (the inner store has
	// taken its copy when AppendAudioBatch returns).
	buf     []byte
	pending []review.AudioAppend
}

// audioState is what is known of a session's stored audio.
type audioState struct {
	plain    bool  // stored as given (before encryption, or no ring)
	size     int64 // the client's bytes
	physical int64 // the inner store's bytes
}

// record header: key id length (1), key id, sealed length (4).
func (a *sealedAudio) seal(dst []byte, id string, off int64, data []byte) []byte {
	aead := a.ring.aeads[a.ring.current]
	dst = append(dst, byte(len(a.ring.current)))
	dst = append(dst, a.ring.current...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(aead.NonceSize()+len(data)+aead.Overhead()))
	dst = slices.Grow(dst, aead.NonceSize()+len(data)+aead.Overhead())
	nonce := dst[len(dst) : len(dst)+aead.NonceSize()]
	randNonce(nonce)
	return aead.Seal(dst[:len(dst)+len(nonce)], nonce, data, audioAD(id, off))
}

func audioAD(id string, off int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(id), uint64(off))
}

// open decrypts a session's stored bytes; it also reports the state.
func (a *sealedAudio) open(id string, raw []byte) ([]byte, *audioState, error) {
	if !bytes.HasPrefix(raw, []byte(audioMagic)) {
		if len(raw) > 0 || a.ring == nil {
			return raw, &audioState{plain: true, size: int64(len(raw)), physical: int64(len(raw))}, nil
		}
		// Registered empty before sealing began: sealed from now on.
		return raw, &audioState{}, nil
	}
	var out []byte
	rest := raw[len(audioMagic):]
	for len(rest) > 0 {
		if len(rest) < 1 || len(rest) < 1+int(rest[0])+4 {
			return nil, nil, fmt.Errorf("%w: audio of session %s", ErrMalformed, id)
		}
		kid := string(rest[1 : 1+rest[0]])
		rest = rest[1+rest[0]:]
		n := int(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if n > len(rest) {
			return nil, nil, fmt.Errorf("%w: audio of session %s", ErrMalformed, id)
		}
		if a.ring == nil {
			return nil, nil, fmt.Errorf("%w (key id %q): audio of session %s", ErrUnknownKey, kid, id)
		}
		aead, ok := a.ring.aeads[kid]
		if !ok {
			return nil, nil, fmt.Errorf("%w (key id %q): audio of session %s", ErrUnknownKey, kid, id)
		}
		if n < aead.NonceSize()+aead.Overhead() {
			return nil, nil, fmt.Errorf("%w: audio of session %s", ErrMalformed, id)
		}
		var err error
		if out, err = aead.Open(out, rest[:aead.NonceSize()], rest[aead.NonceSize():n], audioAD(id, int64(len(out)))); err != nil {
			return nil, nil, fmt.Errorf("%w (key id %q): audio of session %s", ErrAuth, kid, id)
		}
		rest = rest[n:]
	}
	return out, &audioState{size: int64(len(out)), physical: int64(len(raw))}, nil
}

// load reads a session's stored audio and its state.
func (a *sealedAudio) load(ctx context.Context, id string) ([]byte, *audioState, error) {
	raw, err := a.inner.ReadAudio(ctx, id, 0)
	if err != nil {
		return nil, nil, err
	}
	return a.open(id, raw)
}

// state is the session's state, read from the store when not held.
func (a *sealedAudio) state(ctx context.Context, id string) (*audioState, error) {
	if st, ok := a.sessions[id]; ok {
		return st, nil
	}
	_, st, err := a.load(ctx, id)
	if errors.Is(err, review.ErrNotFound) {
		st, err = &audioState{plain: a.ring == nil}, nil
		st.physical = -1 // not registered
	}
	if err != nil {
		return nil, err
	}
	a.sessions[id] = st
	return st, nil
}

func (a *sealedAudio) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	return review.AppendOne(ctx, a, id, offset, data)
}

// AppendAudioBatch seals each append's new bytes as one record and writes
// them all in one batch of the inner store.
func (a *sealedAudio) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	inner := a.pending[:0]
	at := make([]int, len(batch)) // batch item → inner item, or -1
	need := 0
	for _, ap := range batch {
		need += len(ap.Data) + len(audioMagic) + 64
	}
	buf := slices.Grow(a.buf[:0], need) // every record of the batch
	defer func() {
		clear(inner)
		a.buf, a.pending = buf[:0], inner[:0]
	}()
	type span struct{ item, start, end int }
	spans := make([]span, 0, len(batch))
	for i := range batch {
		ap := &batch[i]
		at[i] = -1
		st, err := a.state(ctx, ap.SessionID)
		if err != nil {
			ap.Err = err
			continue
		}
		data := ap.Data
		switch {
		case ap.Offset > st.size:
			ap.Err = review.ErrAudioGap
			continue
		case ap.Offset < st.size:
			stored, _, err := a.load(ctx, ap.SessionID)
			if err != nil {
				ap.Err = err
				continue
			}
			// Bytes appended earlier in this batch are not stored yet.
			stored = append(stored, a.pendingPlain(batch[:i], ap.SessionID, int64(len(stored)))...)
			n := min(int64(len(data)), st.size-ap.Offset)
			if !bytes.Equal(stored[ap.Offset:ap.Offset+n], data[:n]) {
				ap.Err = review.ErrAudioMismatch
				continue
			}
			data = data[n:]
		}
		if len(data) == 0 && st.physical >= 0 {
			ap.Size = st.size
			continue
		}
		off := max(st.physical, 0)
		at[i] = len(inner)
		if st.plain {
			// As given, without a copy.
			inner = append(inner, review.AudioAppend{SessionID: ap.SessionID, Offset: off, Data: data})
			st.physical = off + int64(len(data))
		} else {
			start := len(buf)
			if st.physical <= 0 {
				buf = append(buf, audioMagic...)
			}
			if len(data) > 0 {
				buf = a.seal(buf, ap.SessionID, st.size, data)
			}
			spans = append(spans, span{len(inner), start, len(buf)})
			inner = append(inner, review.AudioAppend{SessionID: ap.SessionID, Offset: off})
			st.physical = off + int64(len(buf)-start)
		}
		st.size += int64(len(data))
		ap.Size = st.size
	}
	// buf has stopped growing: the records' slices of it are final.
	for _, sp := range spans {
		inner[sp.item].Data = buf[sp.start:sp.end]
	}
	if len(inner) == 0 {
		return nil
	}
	if err := a.inner.AppendAudioBatch(ctx, inner); err != nil {
		// None is known to be stored: read each again before its next
		// append.
		for _, ap := range inner {
			delete(a.sessions, ap.SessionID)
		}
		return err
	}
	for i, j := range at {
		if j >= 0 && inner[j].Err != nil {
			batch[i].Size, batch[i].Err = 0, inner[j].Err
			delete(a.sessions, batch[i].SessionID)
		}
	}
	return nil
}

// pendingPlain is what earlier appends of the batch add to session id's
// audio past size (an overlapping resend within one batch is rare).
func (a *sealedAudio) pendingPlain(earlier []review.AudioAppend, id string, size int64) []byte {
	var out []byte
	for _, ap := range earlier {
		if ap.SessionID != id || ap.Err != nil {
			continue
		}
		if end := ap.Offset + int64(len(ap.Data)); end > size+int64(len(out)) {
			out = append(out, ap.Data[size+int64(len(out))-ap.Offset:]...)
		}
	}
	return out
}

func (a *sealedAudio) AudioSize(ctx context.Context, id string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.inner.AudioSize(ctx, id); err != nil {
		return 0, err
	}
	st, err := a.state(ctx, id)
	if err != nil {
		return 0, err
	}
	return st.size, nil
}

func (a *sealedAudio) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	plain, _, err := a.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if from >= int64(len(plain)) {
		return []byte{}, nil
	}
	return plain[max(from, 0):], nil
}

func (a *sealedAudio) DeleteAudio(ctx context.Context, id string) error {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	return a.inner.DeleteAudio(ctx, id)
}

func (a *sealedAudio) ListAudio(ctx context.Context) ([]string, error) {
	return a.inner.ListAudio(ctx)
}
