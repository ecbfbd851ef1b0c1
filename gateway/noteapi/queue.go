package noteapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// QueueService is what the review queue's live parts need beyond
// Notes: counts per state, soft locks and note events. *review.Service
// satisfies it; a NoteService without it answers these routes 404.
type QueueService interface {
	Counts(ctx context.Context, a review.Actor) (map[review.State]int, error)
	Lock(ctx context.Context, a review.Actor, id string) (review.Lock, error)
	Unlock(ctx context.Context, a review.Actor, id string) error
	LockOf(ctx context.Context, a review.Actor, id string) (*review.Lock, error)
	Subscribe(ctx context.Context, a review.Actor) (<-chan review.Event, error)
}

// eventHeartbeat is how often GET /v1/events writes a comment line, so
// proxies keep the stream open and clients notice a dead one.
const eventHeartbeat = 15 * time.Second

// queue is the QueueService, or the 404 a queue route is answered with
// when there is none, so every queue route starts the same way.
func (api *API) queue(r *http.Request) (QueueService, error) {
	q, ok := api.opts.Notes.(QueueService)
	if !ok {
		return nil, apierror.Errorf(http.StatusNotFound, apierror.CodeNotFound, "no such route: %s %s", r.Method, r.URL.Path)
	}
	return q, nil
}

// Counts is the answer to GET /v1/notes/counts: notes by state, and
// their total.
type Counts struct {
	Counts map[review.State]int `json:"counts"`
	Total  int                  `json:"total"`
}

func (api *API) noteCounts(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q, err := api.queue(r)
	if err != nil {
		return err
	}
	m, err := q.Counts(r.Context(), c.Actor())
	if err != nil {
		return err
	}
	body := Counts{Counts: map[review.State]int{}}
	for st, n := range m {
		body.Counts[st] = n
		body.Total += n
	}
	apierror.WriteJSON(w, http.StatusOK, body)
	return nil
}

// Locked is the answer to POST /v1/notes/{id}/lock: the lock the caller
// now holds.
type Locked struct {
	Lock review.Lock `json:"lock"`
}

func (api *API) lockNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q, err := api.queue(r)
	if err != nil {
		return err
	}
	l, err := q.Lock(r.Context(), c.Actor(), r.PathValue("id"))
	if err != nil {
		// Another reviewer's lock: 409 note_locked, its "lock" says who
		// and until when (apierror.From).
		return err
	}
	apierror.WriteJSON(w, http.StatusOK, Locked{Lock: l})
	return nil
}

func (api *API) unlockNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q, err := api.queue(r)
	if err != nil {
		return err
	}
	if err := q.Unlock(r.Context(), c.Actor(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noteLock is the lock GET /v1/notes/{id} shows beside the note; nil when
// no lock is held or no QueueService is wired.
func (api *API) noteLock(r *http.Request, a review.Actor, id string) *review.Lock {
	q, ok := api.opts.Notes.(QueueService)
	if !ok {
		return nil
	}
	l, err := q.LockOf(r.Context(), a, id)
	if err != nil {
		api.log.WarnContext(r.Context(), "read note lock", "note_id", id, "err", err)
		return nil
	}
	return l
}

// Event is what a "note" or "lock" server-sent event carries.
type Event struct {
	ID      string       `json:"id"`
	State   review.State `json:"state"`
	Version int          `json:"version"`
}

// events streams note events of the caller's clinic (a clinician: their
// own notes) as server-sent events until the client goes or the gateway
// drains.
func (api *API) events(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q, err := api.queue(r)
	if err != nil {
		return err
	}
	release, err := api.holdStream(c)
	if err != nil {
		return err
	}
	defer release()
	// The stream ends when its token does: the client reconnects with a
	// fresh one, so a stolen or revoked token's stream does not go on.
	ctx, cancel := context.WithDeadline(r.Context(), c.ExpiresAt.Time)
	defer cancel()
	go func() {
		select {
		case <-api.opts.Drain:
			cancel()
		case <-ctx.Done():
		}
	}()
	ch, err := q.Subscribe(ctx, c.Actor())
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts (an expired
	// read deadline would end it through the request's context).
	rc.SetWriteDeadline(time.Time{})
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// From here the stream is answered: however it ends, there is no
	// error left to answer with.
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}
	t := time.NewTicker(eventHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				fmt.Fprint(w, "event: token_expired\ndata: {}\n\n")
				rc.Flush()
			}
			return nil
		case <-t.C:
			fmt.Fprint(w, ": heartbeat\n\n")
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			b, _ := json.Marshal(Event{ID: e.NoteID, State: e.State, Version: e.Version})
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b)
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// holdStream counts an event stream against its user's bound
// (Options.MaxEventStreams), or refuses it; release gives the slot back.
func (api *API) holdStream(c auth.Claims) (release func(), err error) {
	k := streamKey{c.Clinic, c.Subject}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.streams[k] >= api.opts.MaxEventStreams {
		return nil, apierror.Errorf(http.StatusTooManyRequests, apierror.CodeTooManyStreams,
			"you already have %d event streams open; close one first", api.opts.MaxEventStreams)
	}
	api.streams[k]++
	return func() {
		api.mu.Lock()
		defer api.mu.Unlock()
		if api.streams[k]--; api.streams[k] <= 0 {
			delete(api.streams, k)
		}
	}, nil
}
