package gateway

import (
	"net/http"

	"github.com/scribegate/scribegate/gateway/wsconn"
)

// upgrade completes r's WebSocket handshake for session id (Deepgram
// sends its request id in the dg-request-id header too). viaProto: the
// token came in a subprotocol pair, so the handshake names its scheme.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, id string, viaProto bool) (wsConn, error) {
	var protos []string
	if viaProto {
		// The scheme the client offered (the upgrader picks the one it sent).
		protos = []string{"token", "bearer"}
	}
	c, err := s.ws.Upgrade(w, r, http.Header{"dg-request-id": {id}}, protos)
	if err != nil {
		return nil, err // not a typed nil
	}
	return c, nil
}

// wsConn is what a session needs of its client's connection
// (*wsConn has it): its messages, given to a wsconn.Handler, and
// its writes, which may be made from several goroutines.
type wsConn interface {
	Serve(h wsconn.Handler)
	WriteText(p []byte) error
	Ping() error
	WriteClose(code int, reason string) error
	Close() error
}
