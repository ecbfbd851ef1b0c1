// Package clientconn is a streaming session's connection to its client
// (GET /v1/listen), which outlives any one socket: a client whose socket
// drops resumes the session on a new one. A Conn owns the socket the
// client is on now, the one goroutine that writes to it (messages, pings,
// the Durable offsets, the close frame), the reader that hands the
// client's frames to the session, the hand-over of a resuming socket, and
// the client's activity clock. It knows nothing of audio, transcripts or
// notes: frames go to a Handler, and the Durable offset comes from a
// function the session gives it.
package clientconn

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/gateway/wsconn"
)

// Socket is what a Conn needs of a client's WebSocket (*wsconn.Conn has
// it): its messages, given to a wsconn.Handler, and its writes, which may
// be made from several goroutines.
type Socket interface {
	Serve(h wsconn.Handler)
	WriteText(p []byte) error
	Ping() error
	WriteClose(code int, reason string) error
	Close() error
}

// Handler takes a socket's messages in: the session.
type Handler interface {
	// Frame takes one message. ended: it ends the session, and the reader
	// takes no more. suspend: the session's audio is not being stored,
	// the client has been told (SendClose), and the socket is to be
	// closed.
	Frame(typ int, b []byte) (ended, suspend bool)
}

// End is why a reader stopped: its socket failed or closed (Err), or,
// with Err nil, a frame ended the session (the Handler knows how).
type End struct{ Err error }

// ErrSuspended ends a socket closed because the session's audio was not
// being stored: the session waits for its client to resume, as after a
// dropped connection.
var ErrSuspended = errors.New("clientconn: the store has not taken the session's audio")

// CloseTakenOver closes a socket whose session another socket took over
// (resumed it while this one still held it). A client must not reconnect
// on it: that would take the session back, and the two would knock each
// other off for ever.
const CloseTakenOver = 4001

// TakeoverQuiet: once a session has been taken over, the socket it holds
// must have been silent (no audio, no KeepAlive) this long before another
// may take it over again (Busy). The first takeover is a client that
// knows its old socket is dead before the gateway does; a second one
// while the new socket streams is the old client coming back (or a
// second client), refused rather than let the two knock each other off
// in turn. A half-dead socket goes quiet at once.
const TakeoverQuiet = 2 * time.Second

// suspendDrain is how long a suspended socket waits for the client's
// close.
const suspendDrain = 2 * time.Second

// Config is what a Conn is told of its session.
type Config struct {
	ID           string        // the session's, in every Durable
	SampleRate   int           // the session's, for Durable's seconds
	ResumeWindow time.Duration // told in each socket's first Durable
	PingInterval time.Duration
	Handler      Handler
	// Durable is how much of the session's audio is stored; false while
	// nothing is being stored.
	Durable func() (int64, bool)
	// OnError, when set, is told the code of each Error sent (metrics).
	OnError func(code string)
	Log     *slog.Logger // with the session's ids
}

// outFrame is one thing for the writer to send: a JSON message or, last,
// a close frame.
type outFrame struct {
	msg   any
	close *closeFrame
	// attach, when set, makes the writer write to this socket from now
	// on (a resumed session); msg is its first message.
	attach Socket
}

type closeFrame struct {
	code   int
	reason string
}

// Conn is a session's connection to its client. Every write to the
// socket is made by its writer goroutine (gorilla allows one writer).
type Conn struct {
	cfg Config

	mu   sync.Mutex // guards sock, which a resume replaces
	sock Socket     // nil while the session waits for its client

	out        chan outFrame
	cw         *connWriter // the write side of sock
	writerDone chan struct{}
	stored     chan struct{} // more audio is durable (Stored to the writer)
	// sink, when set, is given every message the writer sends.
	sink func(any)

	// A resuming socket is offered (Offer) and waits in offered for the
	// session to take it; once the session is finishing none is.
	offerMu   sync.Mutex
	offered   chan Socket
	finishing bool
	resend    bool        // the socket offered resends from Durable
	takenOver atomic.Bool // a socket has taken the session over (Busy)

	ends       chan End
	stopRead   chan struct{}
	readerDone chan struct{} // the current reader's; nil before the first

	// started and active (nanoseconds after started, at the client's last
	// frame or KeepAlive) tell how long the client was idle.
	started time.Time
	active  atomic.Int64
}

// New makes the connection of a session whose client is on sock (nil:
// none yet, or none ever: a file's session).
func New(cfg Config, sock Socket) *Conn {
	return &Conn{
		cfg:      cfg,
		sock:     sock,
		out:      make(chan outFrame, 64),
		cw:       newConnWriter(sock, cfg.ID, cfg.SampleRate, cfg.ResumeWindow),
		stored:   make(chan struct{}, 1),
		offered:  make(chan Socket, 1),
		ends:     make(chan End),
		stopRead: make(chan struct{}),
		started:  time.Now(),
	}
}

// SetSink has every message the writer sends given to f too, on the
// writer's goroutine (a file's session answers with them). Call it before
// StartWriter.
func (c *Conn) SetSink(f func(any)) { c.sink = f }

// Send queues msg for the client.
func (c *Conn) Send(msg any) { c.out <- outFrame{msg: msg} }

// SendError queues an Error message.
func (c *Conn) SendError(code, desc string) {
	if c.cfg.OnError != nil {
		c.cfg.OnError(code)
	}
	c.Send(wire.ErrorMessage{Type: "Error", Code: code, Description: desc})
}

// SendClose queues a close frame for the socket: the session goes on, and
// its client may resume it later.
func (c *Conn) SendClose(code int, reason string) {
	c.out <- outFrame{close: &closeFrame{code, reason}}
}

// Stored says more of the session's audio is stored: the writer tells
// the client. It never blocks.
func (c *Conn) Stored() {
	select {
	case c.stored <- struct{}{}:
	default:
	}
}

// Socket is the socket the session holds (nil: none).
func (c *Conn) Socket() Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sock
}

// Detach lets go of the socket, which its reader is done with: left
// open, its descriptor would stay until the collector found it.
func (c *Conn) Detach() {
	c.mu.Lock()
	lost := c.sock
	c.sock = nil
	c.mu.Unlock()
	if lost != nil {
		lost.Close()
	}
}

// Attach makes sock, a resumed client's, the session's socket: it is sent
// Durable d before anything else, then read like the first.
func (c *Conn) Attach(sock Socket, d wire.Durable) {
	c.mu.Lock()
	c.sock = sock
	c.mu.Unlock()
	c.out <- outFrame{attach: sock, msg: d}
	c.StartReader()
}

// Touch notes that the client did something that keeps the session open.
func (c *Conn) Touch() { c.active.Store(int64(time.Since(c.started))) }

// IdleFor is how long the client has done nothing that keeps the session
// open.
func (c *Conn) IdleFor() time.Duration {
	return time.Since(c.started) - time.Duration(c.active.Load())
}

// Busy reports whether the session's socket is live and streaming after a
// takeover, so that another socket may not take it over.
func (c *Conn) Busy() bool {
	return c.takenOver.Load() && c.Socket() != nil && c.IdleFor() < TakeoverQuiet
}

// Offer hands sock to the session (Offered) and returns the socket the
// session held before: the one to close (TakeOver), looked up before the
// hand-over, since a session waiting for its client takes sock at once.
// It reports false when the session is finishing or another socket
// already waits. resend: the client resends from the Durable offset.
func (c *Conn) Offer(sock Socket, resend bool) (old Socket, ok bool) {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	if c.finishing {
		return nil, false
	}
	old = c.Socket()
	select {
	case c.offered <- sock:
		c.resend = resend
		return old, true
	default:
		return nil, false
	}
}

// Offered gives the sockets offered to the session.
func (c *Conn) Offered() <-chan Socket { return c.offered }

// Resending reports whether the socket last offered resends from the
// Durable offset.
func (c *Conn) Resending() bool {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	return c.resend
}

// CloseOffers refuses sockets offered from now on, and any waiting.
func (c *Conn) CloseOffers() {
	c.offerMu.Lock()
	c.finishing = true
	c.offerMu.Unlock()
	for {
		select {
		case sock := <-c.offered:
			sock.WriteClose(websocket.CloseTryAgainLater, "session is finishing")
			sock.Close()
		default:
			return
		}
	}
}

// TakeOver closes old, a socket another has taken the session from, with
// CloseTakenOver.
func (c *Conn) TakeOver(old Socket) {
	c.takenOver.Store(true)
	old.WriteClose(CloseTakenOver, "session taken over by another connection")
	old.Close()
}

// StartReader has the current socket's messages taken by the Handler;
// Ends says when it stops.
func (c *Conn) StartReader() {
	sock := c.Socket()
	c.readerDone = make(chan struct{})
	sock.Serve(&reader{h: c.cfg.Handler, sock: sock, ends: c.ends, stop: c.stopRead, done: c.readerDone})
}

// Ends gives why each reader stopped.
func (c *Conn) Ends() <-chan End { return c.ends }

// StopReading tells readers the session takes no more: they report no
// End and drop what comes until their socket closes.
func (c *Conn) StopReading() { close(c.stopRead) }

// Stopping is closed by StopReading.
func (c *Conn) Stopping() <-chan struct{} { return c.stopRead }

// reader takes one socket's messages in for its session (Frame), on the
// socket library's goroutine, without handing them to another: at a frame
// every 100 ms per session, a hand-off costs more than the frame's own
// work. It reports on ends, unless the session has already stopped (stop
// closed), when the socket ends or a message ends the session (a
// CloseStream, a message too large): then it goes on taking messages, and
// dropping them, until the client closes or the session closes the
// socket, so that the client reads the session's answer.
type reader struct {
	h     Handler
	sock  Socket
	ends  chan<- End
	stop  <-chan struct{}
	done  chan<- struct{}
	ended bool // a message ended the session: the rest are dropped
	// suspended: the socket is being closed for the store (suspend): its
	// end is ErrSuspended.
	suspended bool
}

func (r *reader) report(e End) {
	select {
	case r.ends <- e:
	case <-r.stop:
	}
}

// Message implements wsconn.Handler.
func (r *reader) Message(typ int, b []byte) {
	if r.ended || r.suspended {
		return
	}
	ended, suspend := r.h.Frame(typ, b)
	if ended {
		r.ended = true
		r.report(End{})
		return
	}
	if suspend {
		// Wait a little for the client's close, dropping what comes
		// before it, so that the Error and the close frame are read, not
		// reset.
		r.suspended = true
		time.AfterFunc(suspendDrain, func() { r.sock.Close() })
	}
}

// Closed implements wsconn.Handler.
func (r *reader) Closed(err error) {
	defer close(r.done)
	if r.suspended {
		r.sock.Close()
		err = ErrSuspended
	}
	r.report(End{Err: err})
}

// StartWriter starts the writer goroutine.
func (c *Conn) StartWriter() {
	c.writerDone = make(chan struct{})
	go c.writer()
}

// writer sends the session's messages, pings and, last, the close frame,
// through the connection writer (cw). After a write fails the rest is
// discarded, so senders never block on a dead client.
//
// Stored signals when more of the session's audio is stored; the writer
// goroutine then sends the Durable offset, unless it says no more than
// the last one sent on this socket.
func (c *Conn) writer() {
	defer close(c.writerDone)
	w := c.cw
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ping.C:
			w.ping()
		case <-c.stored:
			if d, ok := c.cfg.Durable(); ok {
				w.sendDurable(d)
			}
		case f, ok := <-c.out:
			if !ok {
				return
			}
			if f.attach != nil {
				// A new socket: its first message is the durable offset,
				// whatever the last one said.
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
				c.cfg.Log.Error("message not sent: it cannot be encoded", "message", fmt.Sprintf("%T", f.msg), "err", err)
			}
		}
	}
}

// CloseAndWait sends the close frame (code 0 or 1006: none, the client
// is gone), lets the client answer it, and releases the socket. Nothing
// may be sent after it.
func (c *Conn) CloseAndWait(code int, reason string) {
	readerDone := c.readerDone
	if code == websocket.CloseAbnormalClosure || code == 0 {
		close(c.out)
		<-c.writerDone
		if sock := c.Socket(); sock != nil {
			sock.Close()
		}
		if readerDone != nil {
			<-readerDone
		}
		return
	}
	c.out <- outFrame{close: &closeFrame{code, reason}}
	close(c.out)
	<-c.writerDone
	if readerDone != nil {
		select {
		case <-readerDone:
		case <-time.After(5 * time.Second):
		}
	}
	if sock := c.Socket(); sock != nil {
		sock.Close()
	}
	if readerDone != nil {
		<-readerDone
	}
}
