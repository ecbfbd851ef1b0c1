package gateway

import (
	"net/http"

	"github.com/scribegate/scribegate/gateway/apierror"
)

// writeError answers err in the one error shape (apierror.Body), counting
// it by code; an internal error's detail goes to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := apierror.From(err)
	if ae.Code == apierror.CodeInternal {
		s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "note_id", r.PathValue("id"), "err", err)
	}
	s.metrics.errors.WithLabelValues(ae.Code).Inc()
	apierror.SetHeaders(w, ae)
	b := ae.Body()
	deepgramError(w, r, &b)
	apierror.WriteJSON(w, ae.Status, b)
}
