package gateway

import (
	"net/http"
	"time"

	"github.com/scribegate/scribegate/gateway/clientconn"
)

// writeWait bounds every write to a client: a client that takes no more
// for this long has its connection failed, so a writer never waits on it
// for longer.
const writeWait = 10 * time.Second

// wsConn is a client's WebSocket as a session holds it.
type wsConn = clientconn.Socket

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
