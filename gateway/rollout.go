package gateway

import (
	"errors"
	"net/http"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/rolloutapi"
	"github.com/scribegate/scribegate/review"
)

// rollout serves GET /v1/metrics/rollout (package rolloutapi) to the
// caller's clinic's admins and reviewers; without Options.Rollout the
// route is not there.
func (s *Server) rollout(w http.ResponseWriter, r *http.Request) {
	if s.opts.Rollout == nil {
		s.writeError(w, r, apierror.Errorf(http.StatusNotFound, apierror.CodeNotFound, "no such endpoint"))
		return
	}
	c, _, err := s.authenticate(r, review.RoleAdmin, review.RoleReviewer)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	err = s.opts.Rollout.Serve(w, r, c.Actor())
	var pe *rolloutapi.ParamError
	switch {
	case errors.As(err, &pe) && pe.Unsupported:
		s.writeError(w, r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedParameter, Message: pe.Message, Param: pe.Param})
	case errors.As(err, &pe):
		s.writeError(w, r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery, Message: pe.Message, Param: pe.Param})
	case err != nil:
		s.writeError(w, r, err)
	}
}
