package gateway

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
)

// listen serves GET /v1/listen: a Deepgram-compatible live transcription
// session that ends in a draft note queued for review.
func (s *Server) listen(w http.ResponseWriter, r *http.Request) {
	claims, viaProto, err := s.authenticate(r, review.RoleClinician)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.parseListen(r, claims)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.writeError(w, r, apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidQuery, "GET /v1/listen must be a WebSocket upgrade"))
		return
	}
	if p.session != "" && s.resume(w, r, claims, viaProto, p) {
		return
	}
	leave, err := s.enter(clinicianKey{claims.Clinic, claims.Subject}, "reconnect to another instance")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer leave()

	// The session id is the note's id and what a client resumes with;
	// a client may have chosen it (clientChosen).
	id := cmp.Or(p.session, newID())
	conn, err := s.upgrade(w, r, id, viaProto)
	if err != nil {
		// The upgrader has answered the client.
		s.log.WarnContext(r.Context(), "websocket upgrade failed", "err", err)
		return
	}
	sess := s.newSession(id, conn, claims, p)
	sess.run()
}

// newID is a random UUID (v4): the session id, which is also the
// Deepgram request_id clients log.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
