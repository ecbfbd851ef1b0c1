//go:build unix

package gateway

import (
	"syscall"

	"github.com/gorilla/websocket"
)

// rawConn is c's socket, or nil when c is not one (TLS, a pipe).
func rawConn(c *websocket.Conn) syscall.RawConn {
	sc, ok := c.NetConn().(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow makes one write(2) of b to rc's socket, which the runtime keeps
// non-blocking: it returns at once with what the socket took.
func writeNow(rc syscall.RawConn, b []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := rc.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true // never wait for the socket: the caller falls back
	})
	if err != nil {
		return 0, err
	}
	return max(n, 0), werr
}
