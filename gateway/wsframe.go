package gateway

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The poller's readers (inlinereader_linux.go) parse client frames
// themselves, so that a round can take every ready session's frames on
// one thread; gorilla still writes, and reads where there is no poller.

// wsHeader is a client frame's header (RFC 6455, section 5.2).
type wsHeader struct {
	fin    bool
	op     int // websocket.TextMessage and the like; 0 continues a message
	length int64
	mask   [4]byte
	size   int // bytes of header
}

// protocolError is a frame no client may send: the connection is closed
// with 1002, as gorilla does.
type protocolError string

func (e protocolError) Error() string { return "websocket: " + string(e) }

// parseHeader parses the frame header at the start of b. ok is false
// while b holds less than the whole header.
func parseHeader(b []byte) (h wsHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	if b[0]&0x70 != 0 {
		// No extension is negotiated, so no reserved bit may be set.
		return h, false, protocolError("reserved bits set")
	}
	h.fin = b[0]&0x80 != 0
	h.op = int(b[0] & 0x0f)
	switch h.op {
	case 0, websocket.TextMessage, websocket.BinaryMessage:
	case websocket.CloseMessage, websocket.PingMessage, websocket.PongMessage:
		if !h.fin {
			return h, false, protocolError("fragmented control frame")
		}
	default:
		return h, false, protocolError("unknown opcode")
	}
	if b[1]&0x80 == 0 {
		return h, false, protocolError("unmasked client frame")
	}
	n, l := 2, int64(b[1]&0x7f)
	switch l {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		l, n = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, false, protocolError("invalid frame length")
		}
		l, n = int64(u), 10
	}
	if h.op >= websocket.CloseMessage && l > 125 {
		return h, false, protocolError("control frame too long")
	}
	if len(b) < n+4 {
		return h, false, nil
	}
	copy(h.mask[:], b[n:n+4])
	h.length, h.size = l, n+4
	return h, true, nil
}

// unmask removes the client's mask from p, the frame's whole payload.
func unmask(mask [4]byte, p []byte) {
	key := uint64(binary.LittleEndian.Uint32(mask[:]))
	key |= key << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^key)
	}
	for ; i < len(p); i++ {
		p[i] ^= mask[i&3]
	}
}

// parseClose reads a close frame's payload as gorilla does: no payload
// is 1005 (no status), a code must be one a peer may send, the reason
// must be UTF-8.
func parseClose(p []byte) (*websocket.CloseError, error) {
	switch {
	case len(p) == 0:
		return &websocket.CloseError{Code: websocket.CloseNoStatusReceived}, nil
	case len(p) == 1:
		return nil, protocolError("invalid close frame")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return nil, protocolError("invalid close code")
	}
	if !utf8.Valid(p[2:]) {
		return nil, protocolError("invalid utf8 payload in close frame")
	}
	return &websocket.CloseError{Code: code, Text: string(p[2:])}, nil
}

// validCloseCode: the codes a peer may send (RFC 6455, section 7.4).
func validCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}
