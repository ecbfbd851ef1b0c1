//go:build !unix

package gateway

import (
	"errors"
	"syscall"

	"github.com/gorilla/websocket"
)

// rawConn is nil: Durable goes through the writer goroutine.
func rawConn(*websocket.Conn) syscall.RawConn { return nil }

func writeNow(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
