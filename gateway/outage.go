package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Store outages. A store that takes no writes for now (review.ErrUnavailable:
// Redis failing over, unreachable, replicas not confirming) is not a
// failed session: what was acknowledged is kept, and the session goes on
// once the store is back. REST answers 503 store_unavailable (apierror);
// a stream is closed with 1012 and resumed later, by its client
// (session=<id>) or, if none comes back, by any instance's orphan scan.

// closeFrame is a close code and its reason.
type closeFrame struct {
	code   int
	reason string
}

// storeOutageEnd closes a stream the store cannot serve for now.
var storeOutageEnd = closeFrame{closeServiceRestart, "store unavailable; resume later"}

// storeOutageWait is how long a finishing session keeps trying a store
// that is unavailable (a Sentinel failover takes seconds).
const storeOutageWait = 30 * time.Second

// whileUnavailable runs fn until it succeeds, fails otherwise, or the
// store has been unavailable for storeOutageWait.
func whileUnavailable(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(storeOutageWait)
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if !errors.Is(err, review.ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// defaultOrphanScan is Limits.OrphanScan when unset.
const defaultOrphanScan = time.Minute

// scanOrphans looks, every Limits.OrphanScan, for sessions left recording
// by a gateway that died (its lease ran out, and no client resumed them
// elsewhere) and takes them over: each waits for its client for what is
// left of the resume window, then is finished from its stored audio.
// Only on a store several gateways share; one process's own are found at
// start (Recover).
func (s *Server) scanOrphans() {
	shared, _ := s.opts.Audio.(review.SharedStore)
	if shared == nil || !shared.SharedAcrossProcesses() || s.limits.OrphanScan < 0 {
		return
	}
	go func() {
		t := time.NewTicker(s.limits.OrphanScan)
		defer t.Stop()
		for {
			select {
			case <-s.base.Done():
				return
			case <-t.C:
			}
			if s.isDraining() {
				return
			}
			if err := s.recover(s.base, false); err != nil {
				s.log.Warn("scan for orphaned sessions", "err", err)
			}
		}
	}()
}
