//go:build unix

package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/gorilla/websocket"
)

// inPlaceWriter is c's socket as a tryWriter, or nil when c is not a
// socket (TLS, a pipe).
func inPlaceWriter(c *websocket.Conn) tryWriter {
	switch nc := c.NetConn().(type) {
	case tryWriter: // socketConn, pollConn
		return nc
	case syscall.Conn:
		if rc, err := nc.SyscallConn(); err == nil {
			return rawTryWriter{rc}
		}
	}
	return nil
}

// rawTryWriter is a socket fastIO did not wrap, written with the
// runtime's write(2).
type rawTryWriter struct{ rc syscall.RawConn }

func (w rawTryWriter) tryWrite(b []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := w.rc.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
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
	rc   syscall.RawConn
	r, w rawOp
}

// rawOp is the read or the write in progress on a socketConn. Its
// callback for RawConn is made once, so a call allocates nothing.
type rawOp struct {
	mu  sync.Mutex // one at a time, as net.Conn allows concurrent calls
	p   []byte
	n   int
	err error
	try bool // a write that must not wait (tryWrite)
	fn  func(fd uintptr) bool
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
	sc := &socketConn{TCPConn: tc, rc: rc}
	sc.r.fn = sc.readFD
	sc.w.fn = sc.writeFD
	return sc
}

// Read reads what the socket holds, waiting (as net.Conn does, deadline
// included) while it holds nothing.
func (c *socketConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	op := &c.r
	op.mu.Lock()
	op.p, op.n, op.err = p, 0, nil
	err := c.rc.Read(op.fn)
	n, rerr := op.n, op.err
	op.p = nil
	op.mu.Unlock()
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

func (c *socketConn) readFD(fd uintptr) bool {
	op := &c.r
	for {
		n, err := rawRead(fd, op.p)
		if err != syscall.EINTR {
			op.n, op.err = max(n, 0), err
			return err != syscall.EAGAIN
		}
	}
}

// Write writes all of p, waiting (as net.Conn does, deadline included)
// while the socket takes no more.
func (c *socketConn) Write(p []byte) (int, error) {
	n, err := c.write(p, false)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// tryWrite implements tryWriter: one write that takes what the socket
// takes and never waits for more.
func (c *socketConn) tryWrite(b []byte) (int, error) {
	return c.write(b, true)
}

func (c *socketConn) write(p []byte, try bool) (int, error) {
	op := &c.w
	op.mu.Lock()
	op.p, op.n, op.err, op.try = p, 0, nil, try
	err := c.rc.Write(op.fn)
	n, werr := op.n, op.err
	op.p = nil
	op.mu.Unlock()
	if err == nil {
		err = werr
	}
	return n, err
}

func (c *socketConn) writeFD(fd uintptr) bool {
	op := &c.w
	for op.n < len(op.p) {
		m, err := rawWrite(fd, op.p[op.n:])
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return op.try // a tryWrite returns; a Write waits
		case err != nil:
			op.err = err
			return true
		default:
			op.n += m
			if op.try {
				return true
			}
		}
	}
	return true
}

// opError is err as net.Conn reports it.
func (c *socketConn) opError(op string, err error) error {
	return tcpOpError(op, c.LocalAddr(), c.RemoteAddr(), err)
}

// tcpOpError is err from a raw system call as net.Conn reports it: an
// errno wrapped as os.SyscallError, in a *net.OpError.
func tcpOpError(op string, local, remote net.Addr, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: local, Addr: remote, Err: err}
}
