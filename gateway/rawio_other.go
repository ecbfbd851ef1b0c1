//go:build !unix

package gateway

import (
	"errors"
	"net"
	"syscall"

	"github.com/gorilla/websocket"
)

// rawConn is nil: Durable goes through the writer goroutine.
func rawConn(*websocket.Conn) syscall.RawConn { return nil }

func writeNow(syscall.RawConn, []byte) (int, error) {
	return 0, errors.ErrUnsupported
}

// fastIO returns c: reads and writes go through the runtime as usual.
func fastIO(c net.Conn) net.Conn { return c }
