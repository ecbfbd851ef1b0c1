// Package wsconn serves the gateway's streaming sessions their WebSocket
// connections with gorilla/websocket: a reader goroutine per connection
// hands each message to the session's Handler, and writes wait for the
// client up to a timeout. A session sees a small interface (Serve and
// four writes), not the library. docs/performance.md has why gorilla,
// rather than an event-loop library or the gateway's own epoll reader,
// which this package replaced.
package wsconn

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Handler receives one connection's messages, one call at a time, in
// the order they came.
type Handler interface {
	// Message is one whole message: at most Options.ReadLimit+1 bytes of
	// it (the rest of a longer one is read and dropped, so the handler
	// can tell it was too long and the client still reads the answer).
	// data is the handler's only during the call. A call may block; the
	// connection is not read meanwhile, so the client's frames wait in
	// the socket.
	Message(typ int, data []byte)
	// Closed is the connection's end, after its last Message: a
	// *CloseError when the client closed it, else why it failed.
	Closed(err error)
}

// Options are what an upgrader's connections are read and written with.
type Options struct {
	// ReadLimit is the largest message a Handler is given whole.
	ReadLimit int64
	// ReadTimeout fails a connection that sent nothing, not even a
	// pong, for this long (0: never).
	ReadTimeout time.Duration
	// WriteTimeout fails a connection whose client takes nothing for
	// this long while a write waits (10s when 0).
	WriteTimeout time.Duration
}

// Upgrader completes WebSocket handshakes. Its zero value is not usable:
// see New.
type Upgrader struct {
	o    Options
	bufs bufPool
	// writeBufs lends each write its buffer: a session writes a few small
	// messages a second, so a buffer held per connection (4 KiB) would
	// sit idle.
	writeBufs sync.Pool
}

// New returns an upgrader whose connections are read and written with o.
func New(o Options) *Upgrader {
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 1 << 62
	}
	return &Upgrader{o: o}
}

// Upgrade answers r's handshake with header and, when the client offers
// one of them, the first of subprotocols it offers. On failure the
// client has been answered.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, header http.Header, subprotocols []string) (*Conn, error) {
	up := websocket.Upgrader{
		// A token-authenticated session gives a page on another origin
		// nothing it could not do with the token itself; a session signed
		// in by cookie had its Origin checked by authenticate (Sessions).
		CheckOrigin:     func(*http.Request) bool { return true },
		WriteBufferPool: &u.writeBufs,
		Subprotocols:    subprotocols,
	}
	c, err := up.Upgrade(w, r, header)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, u: u}, nil
}

// CloseError is the close frame a client ended its connection with.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket: client closed the connection: %d %s", e.Code, e.Text)
}

// CloseCode is err's close code when it is a *CloseError.
func CloseCode(err error) (int, bool) {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

// Conn is the server's end of one connection. Its methods may be called
// from several goroutines at once: gorilla allows one writer at a time
// beside its control writes, and Conn takes turns for it.
type Conn struct {
	c *websocket.Conn
	u *Upgrader

	wmu      sync.Mutex
	deadline time.Time // the write deadline last set
}

// Serve starts giving the connection's messages to h, on a goroutine of
// the connection's own, until it fails; call it once.
func (c *Conn) Serve(h Handler) { go c.read(h) }

// read gives h the connection's messages until it fails. Moving the
// read deadline costs a timer update: it is moved when an eighth of the
// timeout has passed, not on every message.
func (c *Conn) read(h Handler) {
	wait, limit := c.u.o.ReadTimeout, c.u.o.ReadLimit
	var deadline time.Time
	extend := func() error {
		if wait <= 0 {
			return nil
		}
		now := time.Now()
		if deadline.Sub(now) > wait-wait/8 {
			return nil
		}
		deadline = now.Add(wait)
		return c.c.SetReadDeadline(deadline)
	}
	extend()
	c.c.SetPongHandler(func(string) error { return extend() })
	for {
		typ, rd, err := c.c.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				err = &CloseError{Code: ce.Code, Text: ce.Text}
			}
			h.Closed(err)
			return
		}
		extend()
		buf := c.u.bufs.get()
		*buf, err = readMessage(rd, (*buf)[:0], limit)
		if err != nil {
			c.u.bufs.put(buf)
			h.Closed(err)
			return
		}
		// A message longer than limit is given cut; the next NextReader
		// drops the rest of it.
		h.Message(typ, *buf)
		c.u.bufs.put(buf)
	}
}

// readMessage reads a message into b, no further than one byte past
// limit.
func readMessage(r io.Reader, b []byte, limit int64) ([]byte, error) {
	for {
		if int64(len(b)) > limit {
			return b, nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if over := limit + 1 - int64(len(b)); int64(len(room)) > over {
			room = room[:over]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// WriteText sends one text message, waiting for the client up to the
// write timeout.
func (c *Conn) WriteText(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Moving the deadline costs a timer update: it is moved when a tenth
	// of the timeout has passed, not before every message.
	wait := c.u.o.WriteTimeout
	if now := time.Now(); c.deadline.Sub(now) < wait-wait/10 {
		c.deadline = now.Add(wait)
		c.c.SetWriteDeadline(c.deadline)
	}
	return c.c.WriteMessage(websocket.TextMessage, p)
}

// Ping sends a ping; the client's pong keeps the read deadline moving.
func (c *Conn) Ping() error {
	return c.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.u.o.WriteTimeout))
}

// WriteClose sends a close frame with code and reason.
func (c *Conn) WriteClose(code int, reason string) error {
	return c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.u.o.WriteTimeout))
}

// Close closes the connection at once.
func (c *Conn) Close() error { return c.c.Close() }

// bufPool recycles message buffers: a message is handed to the handler
// and released before the next is read, so a few serve every connection.
type bufPool struct{ p sync.Pool }

func (bp *bufPool) get() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// put keeps buffers of usual message sizes; a rare huge one is let go.
func (bp *bufPool) put(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bp.p.Put(b)
	}
}
