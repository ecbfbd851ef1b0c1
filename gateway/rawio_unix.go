//go:build unix

package gateway

import (
	"io"
	"net"
	"os"
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
		n, werr = rawWrite(fd, b)
		return true // never wait for the socket: the caller falls back
	})
	if err != nil {
		return 0, err
	}
	return max(n, 0), werr
}

// socketConn is a TCP connection whose reads and writes are made by
// rawRead and rawWrite: see fastIO.
type socketConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// fastIO returns c with reads and writes that skip the runtime's
// bookkeeping for a system call that may block, when c is a TCP socket
// (which the runtime keeps non-blocking, so they return at once) and the
// platform has raw system calls; otherwise c itself. The runtime's monitor
// thread, asleep while every goroutine is, is woken by the first system
// call made the usual way after that: at a frame every 100 ms from each of
// a thousand clients, and a Durable back, those wake-ups cost the gateway
// more CPU than the reads and writes themselves.
func fastIO(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok || !haveRawIO {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &socketConn{TCPConn: tc, rc: rc}
}

// Read reads what the socket holds, waiting (as net.Conn does, deadline
// included) while it holds nothing.
func (c *socketConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n    int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = rawRead(fd, p)
			if rerr != syscall.EINTR {
				return rerr != syscall.EAGAIN
			}
		}
	})
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting (as net.Conn does, deadline included)
// while the socket takes no more.
func (c *socketConn) Write(p []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, err := rawWrite(fd, p[n:])
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				werr = err
				return true
			default:
				n += m
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// opError is err as net.Conn reports it.
func (c *socketConn) opError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
