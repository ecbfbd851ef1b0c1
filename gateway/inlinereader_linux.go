package gateway

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// readInline makes the server's poller read conn for the session, when
// the poller has conn's socket, and reports whether it does. The poller's
// goroutine then reads every ready socket in each round and takes its
// frames (session.takeFrame), as reader does on a goroutine per
// connection; a goroutine is started only for what may wait: reporting
// on ends, answering pings, waiting for the store.
func (ss *session) readInline(conn *websocket.Conn, ends chan<- readEnd, stop <-chan struct{}, done chan<- struct{}) bool {
	pc, ok := conn.NetConn().(*pollConn)
	if !ok {
		return false
	}
	r := &inlineReader{
		ss: ss, conn: conn, pc: pc, ends: ends, stop: stop, done: done,
		limit:   ss.srv.limits.MaxFrameBytes,
		wait:    2 * ss.srv.limits.PingInterval,
		reports: make(chan report, 2),
	}
	r.mu.Lock()
	r.extend()
	pc.reader.Store(r)
	r.mu.Unlock()
	// What came before the poller knew of r brings no readiness again.
	buf := ss.srv.recs.frames.get()
	r.readable(buf.b[:cap(buf.b)])
	ss.srv.recs.frames.put(buf)
	if pc.closed.Load() {
		go r.connClosed()
	}
	return true
}

// inlineReader reads one connection in the poller's rounds. Everything
// it holds is guarded by mu: a round, a goroutine waiting for the store,
// the deadline's timer and Close take it in turn.
type inlineReader struct {
	ss    *session
	conn  *websocket.Conn
	pc    *pollConn
	ends  chan<- readEnd
	stop  <-chan struct{}
	done  chan<- struct{}
	limit int64
	wait  time.Duration // read deadline: 2 pings

	mu       sync.Mutex
	deadline time.Time
	in       *frameBuf // bytes read but not yet a whole frame (nil: none)
	msg      *frameBuf // a fragmented message so far (nil: none)
	msgOp    int
	skip     int64 // bytes of a too-large message's frame still to drop
	dropping bool  // the rest of a too-large message is dropped
	ended    bool  // the session takes no more frames: data is dropped
	paused   bool  // a goroutine waits for the store: rounds read nothing
	suspend  bool  // closed for the store (session.suspend): ends as errAudioNotStored
	finished bool  // the connection's end is reported: nothing more is read

	// reports carries readEnds, in order, to the goroutine that sends
	// them on ends (at most one end, then the connection's failure),
	// started with the first.
	reports   chan report
	reporting bool
}

// queue hands rep to the reports' goroutine.
func (r *inlineReader) queue(rep report) {
	if !r.reporting {
		r.reporting = true
		go r.report()
	}
	r.reports <- rep
}

// report is a readEnd to send, and what to write to the client first (a
// close frame), as gorilla does before its read returns.
type report struct {
	e      readEnd
	before func()
}

// report sends r's reports on ends, in order, until the last; then done.
func (r *inlineReader) report() {
	defer close(r.done)
	for rep := range r.reports {
		if rep.before != nil {
			rep.before()
		}
		select {
		case r.ends <- rep.e:
		case <-r.stop:
		}
	}
}

// extend moves the read deadline, at most once an eighth of wait.
func (r *inlineReader) extend() {
	if r.suspend {
		return // the deadline is suspendDrain's
	}
	now := time.Now()
	if r.deadline.Sub(now) > r.wait-r.wait/8 {
		return
	}
	r.deadline = now.Add(r.wait)
	r.pc.SetReadDeadline(r.deadline)
}

// readable reads what the socket holds and takes its frames; buf is
// scratch space. The poller's, in each round the socket is ready.
func (r *inlineReader) readable(buf []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.paused && !r.finished {
		n, err := r.pc.sys(rawRead, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		case err != nil:
			r.fail(r.pc.opError("read", err))
			return
		case n == 0:
			r.fail(io.EOF)
			return
		}
		r.extend()
		r.consume(buf[:n])
		if n < len(buf) && !r.pc.ended.Load() {
			return // the socket is empty: more brings readiness
		}
	}
}

// consume takes the frames in data, after what was kept from before,
// and keeps what is not yet a whole frame.
func (r *inlineReader) consume(data []byte) {
	b := data
	if r.in != nil {
		r.in.b = append(r.in.b, data...)
		b = r.in.b
	}
	off := 0
	for !r.paused && !r.finished {
		k := r.step(b[off:])
		if k == 0 {
			break
		}
		off += k
	}
	rest := b[off:]
	switch {
	case r.finished || len(rest) == 0:
		r.release(&r.in)
	case r.in != nil:
		r.in.b = r.in.b[:copy(r.in.b, rest)]
	default:
		r.in = r.ss.srv.recs.frames.get()
		r.in.b = append(r.in.b[:0], rest...)
	}
}

func (r *inlineReader) release(b **frameBuf) {
	if *b != nil {
		r.ss.srv.recs.frames.put(*b)
		*b = nil
	}
}

// step takes the frame at the start of b and returns its length; 0 when
// b holds less than a whole frame (or the connection failed).
func (r *inlineReader) step(b []byte) int {
	if r.skip > 0 {
		k := min(int64(len(b)), r.skip)
		r.skip -= k
		return int(k)
	}
	h, ok, err := parseHeader(b)
	if err != nil {
		r.protocolFail(err)
		return 0
	}
	if !ok {
		return 0
	}
	if h.op < websocket.CloseMessage {
		if err := r.checkSequence(h); err != nil {
			r.protocolFail(err)
			return 0
		}
		size := h.length
		if r.msg != nil {
			size += int64(len(r.msg.b))
		}
		if r.dropping || size > r.limit {
			// No further than MaxFrameBytes into any message: the rest of
			// it is dropped as it comes.
			if !r.dropping {
				r.tooLarge()
			}
			r.dropping = !h.fin
			r.release(&r.msg)
			r.skip = h.length
			return h.size
		}
	}
	if int64(len(b)-h.size) < h.length {
		return 0
	}
	end := h.size + int(h.length)
	p := b[h.size:end]
	unmask(h.mask, p)
	r.frame(h, p)
	return end
}

// checkSequence checks that a data frame continues a message if and only
// if one is in progress.
func (r *inlineReader) checkSequence(h wsHeader) error {
	inMessage := r.msg != nil || r.dropping
	switch {
	case h.op == 0 && !inMessage:
		return protocolError("continuation frame without a message")
	case h.op != 0 && inMessage:
		return protocolError("data frame before the last message ended")
	}
	return nil
}

// frame acts on one whole frame, its payload unmasked.
func (r *inlineReader) frame(h wsHeader, p []byte) {
	switch h.op {
	case websocket.PingMessage:
		ping := string(p)
		go r.conn.PingHandler()(ping)
	case websocket.PongMessage:
	case websocket.CloseMessage:
		ce, err := parseClose(p)
		if err != nil {
			r.protocolFail(err)
			return
		}
		echo := r.conn.CloseHandler()
		r.failAfter(ce, func() { echo(ce.Code, ce.Text) })
	case 0:
		r.msg.b = append(r.msg.b, p...)
		if h.fin {
			r.take(r.msgOp, r.msg.b)
			r.release(&r.msg)
		}
	default:
		if h.fin {
			r.take(h.op, p)
			return
		}
		r.msg, r.msgOp = r.ss.srv.recs.frames.get(), h.op
		r.msg.b = append(r.msg.b[:0], p...)
	}
}

// take takes a whole message in, as reader does.
func (r *inlineReader) take(op int, data []byte) {
	if r.ended {
		return
	}
	if op == websocket.TextMessage && len(r.ss.out) >= cap(r.ss.out)-1 {
		// Its answer could wait for a client that reads nothing: it is
		// taken on a goroutine of its own, the connection held meanwhile.
		r.paused = true
		go r.takeAside(op, append([]byte(nil), data...))
		return
	}
	r.took(r.ss.takeFrame(op, data))
	if op == websocket.BinaryMessage && r.ss.storeBehind() {
		r.paused = true
		go r.waitForStore()
	}
}

// took acts on what takeFrame reported.
func (r *inlineReader) took(end endReason, ended bool) {
	if ended {
		r.ended = true
		r.queue(report{e: readEnd{end: end}})
	}
}

// takeAside takes a message while the connection is held (take).
func (r *inlineReader) takeAside(op int, data []byte) {
	end, ended := r.ss.takeFrame(op, data)
	r.mu.Lock()
	if !r.finished {
		r.took(end, ended)
	}
	r.mu.Unlock()
	r.resume()
}

// resume lets rounds read the connection again after a pause, taking
// the frames kept meanwhile and what the socket holds: readiness that
// came while paused was not acted on.
func (r *inlineReader) resume() {
	r.mu.Lock()
	r.paused = false
	if !r.finished && r.in != nil {
		r.consume(nil)
	}
	r.mu.Unlock()
	buf := r.ss.srv.recs.frames.get()
	r.readable(buf.b[:cap(buf.b)])
	r.ss.srv.recs.frames.put(buf)
}

// tooLarge ends the session for a message over MaxFrameBytes, as reader
// does; the connection is read on, and dropped, until the client goes.
func (r *inlineReader) tooLarge() {
	if r.ended {
		return
	}
	r.ended = true
	r.ss.stopTaking()
	r.queue(report{e: readEnd{end: endReason{name: "frame_too_large", code: websocket.CloseMessageTooBig, reason: "frame too large",
		errCode: CodeFrameTooLarge,
		errDesc: fmt.Sprintf("a message was larger than %d bytes; the audio before it is kept and drafted", r.limit)}}})
}

// waitForStore holds the connection while the store is behind (session.
// waitForStore); rounds read nothing meanwhile, so the client's frames
// back up in the socket. If the store takes nothing the client is told
// and the connection closed (session.suspend).
func (r *inlineReader) waitForStore() {
	stored := r.ss.waitForStore(r.stop)
	r.mu.Lock()
	if !stored && !r.finished && r.ss.tellSuspended() {
		// Read on, dropping, until the client closes or suspendDrain ends.
		r.suspend, r.ended = true, true
		r.deadline = time.Now().Add(suspendDrain)
		r.pc.SetReadDeadline(r.deadline)
	}
	r.mu.Unlock()
	r.resume()
}

// deadlinePassed fails the connection when its read deadline has passed:
// the client sent nothing, not even a pong, for two pings.
func (r *inlineReader) deadlinePassed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished || r.paused || r.deadline.IsZero() || time.Now().Before(r.deadline) {
		return
	}
	r.fail(r.pc.opError("read", os.ErrDeadlineExceeded))
}

// connClosed ends reading once the connection is closed.
func (r *inlineReader) connClosed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail(r.pc.opError("read", net.ErrClosed))
}

// protocolFail closes the connection for a frame no client may send, as
// gorilla does (1002), and fails it.
func (r *inlineReader) protocolFail(err error) {
	cw, conn := r.ss.cw, r.conn
	r.failAfter(err, func() {
		cw.control(conn, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseProtocolError, ""))
	})
}

// fail reports the connection's end: nothing more is read.
func (r *inlineReader) fail(err error) { r.failAfter(err, nil) }

// failAfter is fail, writing to the client with before (on the reports'
// goroutine) first.
func (r *inlineReader) failAfter(err error, before func()) {
	if r.finished {
		return
	}
	r.finished = true
	r.pc.reader.Store(nil)
	r.release(&r.in)
	r.release(&r.msg)
	if r.suspend {
		// Closed for the store: the session waits for a resume.
		err = errAudioNotStored
		conn, echo := r.conn, before
		before = func() {
			if echo != nil {
				echo()
			}
			conn.Close()
		}
	}
	r.queue(report{e: readEnd{err: err}, before: before})
	close(r.reports)
}
