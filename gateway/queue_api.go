package gateway

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
// NoteService: counts per state, soft locks and note events. *review.Service
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

// queueRoutes adds the queue's routes to mux.
func (s *Server) queueRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/notes/counts", s.noteCounts)
	mux.HandleFunc("POST /v1/notes/{id}/lock", s.lockNote)
	mux.HandleFunc("DELETE /v1/notes/{id}/lock", s.unlockNote)
	mux.HandleFunc("GET /v1/events", s.events)
}

// queue authenticates the caller and returns them with the QueueService,
// or writes the error (401/403, or 404 when there is no QueueService) and
// reports false, so every queue route starts the same way.
func (s *Server) queue(w http.ResponseWriter, r *http.Request) (review.Actor, QueueService, bool) {
	c, q, ok := s.queueClaims(w, r)
	return c.Actor(), q, ok
}

// queueClaims is queue with the caller's whole claims (their token's
// expiry included).
func (s *Server) queueClaims(w http.ResponseWriter, r *http.Request) (auth.Claims, QueueService, bool) {
	c, _, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return auth.Claims{}, nil, false
	}
	q, ok := s.opts.Notes.(QueueService)
	if !ok {
		s.writeError(w, r, apierror.Errorf(http.StatusNotFound, apierror.CodeNotFound, "no such route: %s %s", r.Method, r.URL.Path))
		return auth.Claims{}, nil, false
	}
	return c, q, true
}

type countsBody struct {
	Counts map[review.State]int `json:"counts"`
	Total  int                  `json:"total"`
}

func (s *Server) noteCounts(w http.ResponseWriter, r *http.Request) {
	a, q, ok := s.queue(w, r)
	if !ok {
		return
	}
	m, err := q.Counts(r.Context(), a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := countsBody{Counts: map[review.State]int{}}
	for st, n := range m {
		body.Counts[st] = n
		body.Total += n
	}
	apierror.WriteJSON(w, http.StatusOK, body)
}

type lockBody struct {
	Lock review.Lock `json:"lock"`
}

type lockedBody struct {
	Error apierror.Detail `json:"error"`
	Lock  review.Lock     `json:"lock"`
}

func (s *Server) lockNote(w http.ResponseWriter, r *http.Request) {
	a, q, ok := s.queue(w, r)
	if !ok {
		return
	}
	l, err := q.Lock(r.Context(), a, r.PathValue("id"))
	var le *review.LockedError
	if errors.As(err, &le) {
		s.metrics.errors.WithLabelValues(apierror.CodeNoteLocked).Inc()
		who := le.Lock.Name
		if who == "" {
			who = le.Lock.Holder
		}
		apierror.WriteJSON(w, http.StatusConflict, lockedBody{
			Error: apierror.Detail{Code: apierror.CodeNoteLocked, Message: fmt.Sprintf("%s is editing this note until %s",
				who, le.Lock.ExpiresAt.Format(time.RFC3339))},
			Lock: le.Lock,
		})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, lockBody{Lock: l})
}

func (s *Server) unlockNote(w http.ResponseWriter, r *http.Request) {
	a, q, ok := s.queue(w, r)
	if !ok {
		return
	}
	if err := q.Unlock(r.Context(), a, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// noteLock is the lock GET /v1/notes/{id} shows beside the note; nil when
// no lock is held or no QueueService is wired.
func (s *Server) noteLock(r *http.Request, a review.Actor, id string) *review.Lock {
	q, ok := s.opts.Notes.(QueueService)
	if !ok {
		return nil
	}
	l, err := q.LockOf(r.Context(), a, id)
	if err != nil {
		s.log.WarnContext(r.Context(), "read note lock", "note_id", id, "err", err)
		return nil
	}
	return l
}

// eventData is what a "note" or "lock" server-sent event carries.
type eventData struct {
	ID      string       `json:"id"`
	State   review.State `json:"state"`
	Version int          `json:"version"`
}

// events streams note events of the caller's clinic (a clinician: their
// own notes) as server-sent events until the client goes or the gateway
// drains.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	c, q, ok := s.queueClaims(w, r)
	if !ok {
		return
	}
	a := c.Actor()
	release, err := s.holdStream(c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	// The stream ends when its token does: the client reconnects with a
	// fresh one, so a stolen or revoked token's stream does not go on.
	ctx, cancel := context.WithDeadline(r.Context(), c.ExpiresAt.Time)
	defer cancel()
	go func() {
		select {
		case <-s.drain:
			cancel()
		case <-ctx.Done():
		}
	}()
	ch, err := q.Subscribe(ctx, a)
	if err != nil {
		s.writeError(w, r, err)
		return
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
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
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
			return
		case <-t.C:
			fmt.Fprint(w, ": heartbeat\n\n")
		case e, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(eventData{ID: e.NoteID, State: e.State, Version: e.Version})
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
