package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/scribegate/scribegate/gateway/apierror"
)

// healthz says the process is alive; it checks nothing else so that a slow
// dependency never gets a healthy gateway restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	apierror.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyBody struct {
	Status string            `json:"status"`
	Failed map[string]string `json:"failed,omitempty"`
}

// readyz runs the readiness probes so a load balancer stops sending work to
// an instance whose store is unreachable or that is draining.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	failed := map[string]string{}
	if s.isDraining() {
		failed["gateway"] = "shutting down"
	}
	if err := s.auth.Ready(); err != nil {
		failed["auth"] = err.Error()
	}
	for _, c := range s.opts.Ready {
		if err := c.Check(ctx); err != nil {
			// The probe is unauthenticated: the reason (a store's
			// address, its error text) goes to the log only.
			s.log.WarnContext(ctx, "readiness check failed", "check", c.Name, "err", err)
			failed[c.Name] = "unavailable"
		}
	}
	if len(failed) > 0 {
		apierror.WriteJSON(w, http.StatusServiceUnavailable, readyBody{Status: "unavailable", Failed: failed})
		return
	}
	apierror.WriteJSON(w, http.StatusOK, readyBody{Status: "ok"})
}
