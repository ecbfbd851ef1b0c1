package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/wire"
)

// The connection part of a session (clientConn): the client's socket,
// which a resume replaces; the writer goroutine that sends every message
// through the connection writer (connwriter.go); the reader that hands
// the client's frames to the session; and the client's activity clock.
// It knows nothing of transcripts or drafts: frames go to a frameHandler,
// and the Durable offsets it tells the client are the audio log's.

// outFrame is one thing for the writer to send: a JSON message or, last,
// a close frame.
type outFrame struct {
	msg   any
	close *closeFrame
	// attach, when set, makes the writer write to this connection from
	// now on (a resumed session); msg is its first message.
	attach wsConn
}

type closeFrame struct {
	code   int
	reason string
}

// readEnd is why a reader stopped: its connection failed (err), or a
// frame ended the session (end).
type readEnd struct {
	err error
	end endReason
}

// endReason says why the loop ended and how the socket is closed.
type endReason struct {
	name   string // for logs and metrics
	code   int    // close code
	reason string
	// errCode/errDesc, when set, are sent as an Error before the note.
	errCode, errDesc string
}

// frameHandler takes a connection's messages in: the session.
type frameHandler interface {
	// frame takes one message. ended: it ends the session, as end says,
	// and the reader takes no more. suspend: the session's audio is not
	// being stored, the client has been told, and the connection is to
	// be closed.
	frame(typ int, b []byte) (end endReason, ended, suspend bool)
}

// clientConn is a session's connection to its client. Every write to
// the socket goes through cw, one at a time, from the writer goroutine
// (gorilla allows one writer).
type clientConn struct {
	srv *Server
	log *slog.Logger // with the session's ids

	mu   sync.Mutex // guards conn, which a resume replaces
	conn wsConn     // nil while the session waits for its client

	out        chan outFrame
	cw         *connWriter // the write side of conn
	writerDone chan struct{}
	acked      chan struct{} // more audio is durable (audio writer to writer goroutine)
	audio      *audioLog     // whose Durable offsets the client is told
	// sink, when set, is given every message the writer sends (a file's
	// session answers with them; the writer's goroutine calls it).
	sink func(any)

	// A resuming connection is offered (offer) and waits in attach for
	// the session to take it; once the session is finishing none is.
	offerMu   sync.Mutex
	attach    chan wsConn
	finishing bool
	resend    bool        // the connection offered resends from Durable
	takenOver atomic.Bool // a connection has taken the session over (busy)

	frames     frameHandler
	ends       chan readEnd
	stopRead   chan struct{}
	readerDone chan struct{} // the current reader's; nil before the first

	// started and active (nanoseconds after started, at the client's last
	// frame or KeepAlive) tell how long the client was idle.
	started time.Time
	active  atomic.Int64
}

func newClientConn(s *Server, id string, conn wsConn, rate int, audio *audioLog, log *slog.Logger) *clientConn {
	return &clientConn{
		srv:      s,
		log:      log,
		conn:     conn,
		out:      make(chan outFrame, 64),
		cw:       newConnWriter(conn, id, rate, s.limits.ResumeWindow),
		acked:    make(chan struct{}, 1),
		audio:    audio,
		attach:   make(chan wsConn, 1),
		ends:     make(chan readEnd),
		stopRead: make(chan struct{}),
		started:  time.Now(),
	}
}

func (c *clientConn) send(msg any) { c.out <- outFrame{msg: msg} }

func (c *clientConn) sendError(code, desc string) {
	c.srv.metrics.errors.WithLabelValues(code).Inc()
	c.send(wire.ErrorMessage{Type: "Error", Code: code, Description: desc})
}

// current is the connection the session holds (nil: none).
func (c *clientConn) current() wsConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// use makes conn the session's connection.
func (c *clientConn) use(conn wsConn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

// detach lets go of the connection, which its reader is done with: left
// open, its descriptor would stay until the collector found it.
func (c *clientConn) detach() {
	c.mu.Lock()
	lost := c.conn
	c.conn = nil
	c.mu.Unlock()
	if lost != nil {
		lost.Close()
	}
}

// touch notes that the client did something that keeps the session open.
func (c *clientConn) touch() { c.active.Store(int64(time.Since(c.started))) }

// idleFor is how long the client has done nothing that keeps the session
// open.
func (c *clientConn) idleFor() time.Duration {
	return time.Since(c.started) - time.Duration(c.active.Load())
}

// busy reports whether the session's connection is live and streaming,
// so that another connection may not take it over.
func (c *clientConn) busy() bool {
	return c.takenOver.Load() && c.current() != nil && c.idleFor() < takeoverQuiet
}

// offer puts conn in attach for the session to take, and returns the
// connection the session held before (the one to close). It reports false
// when the session is finishing or another connection already waits.
func (c *clientConn) offer(conn wsConn, resend bool) (old wsConn, ok bool) {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	if c.finishing {
		return nil, false
	}
	old = c.current()
	select {
	case c.attach <- conn:
		c.resend = resend
		return old, true
	default:
		return nil, false
	}
}

// resending reports whether the connection last offered resends from
// the Durable offset.
func (c *clientConn) resending() bool {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	return c.resend
}

// closeOffers refuses connections offered from now on, and any waiting.
func (c *clientConn) closeOffers() {
	c.offerMu.Lock()
	c.finishing = true
	c.offerMu.Unlock()
	for {
		select {
		case conn := <-c.attach:
			conn.WriteClose(websocket.CloseTryAgainLater, "session is finishing")
			conn.Close()
		default:
			return
		}
	}
}

// takeOver closes old, a connection another has taken the session from,
// with its own close code, which clients must not answer by reconnecting
// (the new connection has the session).
func (c *clientConn) takeOver(old wsConn) {
	c.takenOver.Store(true)
	old.WriteClose(closeTakenOver, "session taken over by another connection")
	old.Close()
}

// startReader has conn's messages taken by the session (connReader).
func (c *clientConn) startReader(conn wsConn) {
	c.readerDone = make(chan struct{})
	conn.Serve(&connReader{frames: c.frames, conn: conn, ends: c.ends, stop: c.stopRead, done: c.readerDone})
}

// connReader takes one connection's messages in for its session (frame),
// on the socket library's goroutine, without handing them to another: at
// a frame every 100 ms per session, a hand-off costs more than the
// frame's own work. It reports on ends, unless the session has already
// stopped (stop closed), when the connection ends or a message ends the
// session (a CloseStream, a message too large): then it goes on taking
// messages, and dropping them, until the client closes or the session
// closes the connection, so that the client reads the session's answer.
type connReader struct {
	frames frameHandler
	conn   wsConn
	ends   chan<- readEnd
	stop   <-chan struct{}
	done   chan<- struct{}
	ended  bool // a message ended the session: the rest are dropped
	// suspended: the connection is being closed for the store
	// (suspend): its end is errAudioNotStored.
	suspended bool
}

func (r *connReader) report(e readEnd) {
	select {
	case r.ends <- e:
	case <-r.stop:
	}
}

// Message implements wsconn.Handler.
func (r *connReader) Message(typ int, b []byte) {
	if r.ended || r.suspended {
		return
	}
	end, ended, suspend := r.frames.frame(typ, b)
	if ended {
		r.ended = true
		r.report(readEnd{end: end})
		return
	}
	if suspend {
		// Wait a little for the client's close, dropping what comes
		// before it, so that the Error and the close frame are read, not
		// reset.
		r.suspended = true
		time.AfterFunc(suspendDrain, func() { r.conn.Close() })
	}
}

// Closed implements wsconn.Handler.
func (r *connReader) Closed(err error) {
	defer close(r.done)
	if r.suspended {
		r.conn.Close()
		err = errAudioNotStored
	}
	r.report(readEnd{err: err})
}

// errAudioNotStored ends a connection whose session's audio the store
// has not taken (Limits.MaxUnstored): the session waits for the client to
// resume, as after a dropped connection.
var errAudioNotStored = errors.New("gateway: the store has not taken the session's audio")

// suspendDrain is how long a suspended connection waits for the client's
// close.
const suspendDrain = 2 * time.Second

// startWriter starts the writer goroutine.
func (c *clientConn) startWriter() {
	c.writerDone = make(chan struct{})
	go c.writer()
}

// writer sends the session's messages, pings and, last, the close frame,
// through the connection writer (cw). After a write fails the rest is
// discarded, so senders never block on a dead client.
//
// The audio writer signals acked when more of the session's audio is
// stored; the writer goroutine then sends the Durable offset, unless it
// says no more than the last one sent on this connection.
func (c *clientConn) writer() {
	defer close(c.writerDone)
	w := c.cw
	ping := time.NewTicker(c.srv.limits.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ping.C:
			w.ping()
		case <-c.acked:
			if l := c.audio.log; l != nil {
				w.sendDurable(l.Durable())
			}
		case f, ok := <-c.out:
			if !ok {
				return
			}
			if f.attach != nil {
				// A new connection: its first message is the durable
				// offset, whatever the last one said.
				w.attach(f.attach, f.msg.(wire.Durable).Bytes)
				continue
			}
			if d, ok := f.msg.(wire.Durable); ok {
				w.sendDurable(d.Bytes)
				continue
			}
			if f.close != nil {
				w.close(*f.close)
				continue
			}
			if c.sink != nil {
				c.sink(f.msg)
			}
			if err := w.message(f.msg); err != nil {
				c.log.Error("message not sent: it cannot be encoded", "message", fmt.Sprintf("%T", f.msg), "err", err)
			}
		}
	}
}

// closeAndWait sends the close frame, lets the client answer it, and
// releases the connection.
func (c *clientConn) closeAndWait(cf closeFrame) {
	readerDone := c.readerDone
	if cf.code == websocket.CloseAbnormalClosure || cf.code == 0 {
		// Nobody to tell: the client is gone.
		close(c.out)
		<-c.writerDone
		if conn := c.current(); conn != nil {
			conn.Close()
		}
		if readerDone != nil {
			<-readerDone
		}
		return
	}
	c.out <- outFrame{close: &cf}
	close(c.out)
	<-c.writerDone
	if readerDone != nil {
		select {
		case <-readerDone:
		case <-time.After(5 * time.Second):
		}
	}
	if conn := c.current(); conn != nil {
		conn.Close()
	}
	if readerDone != nil {
		<-readerDone
	}
}
