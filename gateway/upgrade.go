package gateway

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

// upgrade completes r's WebSocket handshake for session id (Deepgram
// sends its request id in the dg-request-id header too). viaProto: the
// token came in a subprotocol pair, so the handshake names its scheme.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, id string, viaProto bool) (*websocket.Conn, error) {
	up := websocket.Upgrader{
		// A token-authenticated session gives a page on another origin
		// nothing it could not do with the token itself; a session signed
		// in by cookie had its Origin checked by authenticate (Sessions).
		CheckOrigin: func(*http.Request) bool { return true },
		// Set, so that gorilla reads through the connection the poller
		// gives it rather than through net/http's reader of the socket.
		ReadBufferSize: 4 << 10,
		// A session writes a few small messages a second: its write
		// buffer is borrowed per message instead of held (4 KiB each).
		WriteBufferPool: &s.recs.writeBufs,
	}
	if viaProto {
		// The scheme the client offered (gorilla picks the one it sent).
		up.Subprotocols = []string{"token", "bearer"}
	}
	return up.Upgrade(pollHijacker{w, s.poll}, r, http.Header{"dg-request-id": {id}})
}

// pollHijacker hands gorilla the hijacked connection as the server's
// poller adopts it.
type pollHijacker struct {
	http.ResponseWriter
	p *poller
}

func (h pollHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return h.p.adopt(c), brw, nil
}
