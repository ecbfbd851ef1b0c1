package gateway

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Session leases. Gateways that share a store (Redis) each hold a lease
// on every session they serve, renewed every third of Limits.SessionLease:
// a gateway starting (Recover) or reached by a client's reconnection
// (resume) rebuilds a session from the store only when no other holds it,
// so a session is never served twice — one instance finishing it while
// another goes on streaming. A session finished is released; one a
// gateway abandoned (a crash) is free once its lease runs out. *review.Service
// provides the leases, as no-ops on a store one process owns (SQLite).
type sessionLeaser interface {
	ClaimSession(ctx context.Context, id, owner string, ttl time.Duration) error
	ReleaseSession(ctx context.Context, id, owner string) error
}

// defaultSessionLease is Limits.SessionLease when unset.
const defaultSessionLease = 30 * time.Second

// defaultInstance names this process in leases when Options.Instance is
// unset: the host's name, the same after a restart, so a gateway
// restarted on the same host takes its sessions back at once.
func defaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "scribegate"
	}
	return h
}

// claim takes or renews this gateway's lease on session id. Without
// leases (the Notes service has none) it always succeeds.
func (s *Server) claim(ctx context.Context, id string) error {
	l, ok := s.opts.Notes.(sessionLeaser)
	if !ok {
		return nil
	}
	s.startRenewing()
	return l.ClaimSession(ctx, id, s.instance, s.limits.SessionLease)
}

// releaseLease gives up this gateway's lease on session id: finished,
// or not rebuilt after all.
func (s *Server) releaseLease(ctx context.Context, id string) {
	l, ok := s.opts.Notes.(sessionLeaser)
	if !ok {
		return
	}
	if err := l.ReleaseSession(ctx, id, s.instance); err != nil {
		s.log.Warn("release session lease", "session_id", id, "err", err)
	}
}

// movedEnd ends a session another gateway holds now: it is not
// finished, and its client resumes there.
var movedEnd = endReason{name: "moved", code: closeServiceRestart, reason: "session moved to another gateway; resume the session"}

// heldElsewhere reports whether err says another gateway holds the lease.
func heldElsewhere(err error) bool {
	var he *review.SessionHeldError
	return errors.As(err, &he)
}

// startRenewing starts, once, the renewal of every listed session's lease.
func (s *Server) startRenewing() {
	s.recs.renewOnce.Do(func() { go s.renewLeases() })
}

// renewLeases renews the lease of every session this gateway holds, every
// third of Limits.SessionLease, until the gateway stops. A lease found in
// another's hands (this gateway was cut off from the store for longer
// than a lease, and another rebuilt the session) makes this gateway let
// the session go unfinished: its client is closed with 1012 and resumes
// where the session now is, rather than two gateways serving it.
func (s *Server) renewLeases() {
	t := time.NewTicker(s.limits.SessionLease / 3)
	defer t.Stop()
	var ids []string
	for {
		select {
		case <-s.base.Done():
			return
		case <-t.C:
		}
		s.recs.mu.Lock()
		ids = ids[:0]
		for id := range s.recs.byID {
			ids = append(ids, id)
		}
		for id := range s.recs.redrafting {
			ids = append(ids, id)
		}
		s.recs.mu.Unlock()
		for _, id := range ids {
			err := s.opts.Notes.(sessionLeaser).ClaimSession(s.base, id, s.instance, s.limits.SessionLease)
			switch {
			case err == nil:
			case heldElsewhere(err):
				s.metrics.leasesLost.Inc()
				s.log.Error("session lease taken by another gateway", "session_id", id, "err", err)
				if ss := s.lookup(id); ss != nil {
					ss.markMoved()
				}
			case s.base.Err() == nil:
				s.log.Warn("renew session lease", "session_id", id, "err", err)
			}
		}
	}
}
