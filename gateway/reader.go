package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/groupcommit"
	"github.com/scribegate/scribegate/gateway/wire"
)

// startReader has conn's messages taken by the session (connReader).
func (ss *session) startReader(conn wsConn, ends chan<- readEnd, stop <-chan struct{}, done chan<- struct{}) {
	conn.Serve(&connReader{ss: ss, conn: conn, ends: ends, stop: stop, done: done})
}

// connReader takes one connection's messages in for its session (take),
// on the socket library's goroutine, without handing them to another: at
// a frame every 100 ms per session, a hand-off costs more than the
// frame's own work. It reports on ends, unless the session has already
// stopped (stop closed), when the connection ends or a message ends the
// session (a CloseStream, a message too large): then it goes on taking
// messages, and dropping them, until the client closes or the session
// closes the connection, so that the client reads the session's answer.
type connReader struct {
	ss    *session
	conn  wsConn
	ends  chan<- readEnd
	stop  <-chan struct{}
	done  chan<- struct{}
	ended bool // a message ended the session: the rest are dropped
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
	ss := r.ss
	if r.ended || r.suspended {
		return
	}
	if limit := ss.srv.limits.MaxFrameBytes; int64(len(b)) > limit {
		r.ended = true
		ss.stopTaking()
		r.report(readEnd{end: endReason{name: "frame_too_large", code: websocket.CloseMessageTooBig, reason: "frame too large",
			errCode: apierror.CodeFrameTooLarge,
			errDesc: fmt.Sprintf("a message was larger than %d bytes; the audio before it is kept and drafted", limit)}})
		return
	}
	end, ended := ss.takeFrame(typ, b)
	if ended {
		r.ended = true
		r.report(readEnd{end: end})
		return
	}
	if typ == websocket.BinaryMessage && !ss.waitForStore(r.stop) && ss.tellSuspended() {
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

// maxStoreStall is how long, at most, the reader waits for a store that
// takes none of the session's audio before the client is told.
const maxStoreStall = 10 * time.Second

// waitForStore holds the reader while more of the session's audio waits
// for the store than Limits.MaxUnstored allows: the client's frames back
// up in the socket (a client resending a long stretch after a resume is
// slowed to the store's pace, not refused). It reports false when the
// store took nothing for maxStoreStall (or MaxUnstored, if shorter).
func (ss *session) waitForStore(stop <-chan struct{}) bool {
	if !ss.storeBehind() {
		return true
	}
	p, limits := ss.persist, ss.srv.limits
	limit := ss.maxUnstored()
	stall := min(maxStoreStall, limits.MaxUnstored)
	tick := time.NewTicker(cmp.Or(limits.DurableInterval, groupcommit.DefaultInterval))
	defer tick.Stop()
	durable, since := p.Durable(), time.Now()
	for p.Unstored() > limit {
		if d := p.Durable(); d != durable {
			durable, since = d, time.Now()
		} else if time.Since(since) >= stall {
			return false
		}
		select {
		case <-tick.C:
		case <-stop:
			return true // the session is ending: its end stores what it can
		}
	}
	return true
}

// suspendDrain is how long a suspended connection waits for the client's
// close.
const suspendDrain = 2 * time.Second

// tellSuspended tells the client that its audio is not being stored and
// closes the connection (1013, try again later) without ending the
// session: the client keeps what is past its last Durable and resumes
// with session=<id> later. It reports false, sending nothing, when the
// session is ending anyway. Frames that arrive before the client answers
// the close are not taken.
func (ss *session) tellSuspended() bool {
	s := ss.srv
	// Under takeMu, as take's messages are: once the session stops
	// taking frames its end owns the connection and its messages.
	ss.takeMu.Lock()
	defer ss.takeMu.Unlock()
	if ss.stopped {
		return false
	}
	s.log.Warn("audio not stored: connection closed, session waits for its client", append(ss.attrs(),
		"durable_bytes", ss.persist.Durable(), "received_bytes", ss.received)...)
	ss.sendError(apierror.CodeAudioNotStored, fmt.Sprintf(
		"the gateway's audio store is not taking this session's audio; keep the audio after the last Durable and resume with session=%s later",
		ss.id))
	ss.out <- outFrame{close: &closeFrame{websocket.CloseTryAgainLater, "audio not stored; resume later"}}
	return true
}

// maxUnstored is Limits.MaxUnstored in bytes of the session's audio.
func (ss *session) maxUnstored() int64 {
	return int64(ss.srv.limits.MaxUnstored.Seconds() * float64(2*ss.p.sampleRate))
}

// storeBehind reports whether more of the session's audio waits for the
// store than Limits.MaxUnstored allows: the reader must wait for it.
func (ss *session) storeBehind() bool {
	p := ss.persist
	return p != nil && p.Storing() && p.Unstored() > ss.maxUnstored()
}

// takeFrame takes in a frame unless the session has stopped taking them,
// and reports whether it ends the session (it takes none after that).
func (ss *session) takeFrame(typ int, data []byte) (endReason, bool) {
	ss.takeMu.Lock()
	defer ss.takeMu.Unlock()
	if ss.stopped {
		return endReason{}, false
	}
	end, ended := ss.take(typ, data)
	if ended {
		ss.stopped = true
	}
	return end, ended
}

// stopTaking makes the session take no more frames; it returns once a
// frame being taken is done, so the stream is then the caller's alone.
func (ss *session) stopTaking() {
	ss.takeMu.Lock()
	ss.stopped = true
	ss.takeMu.Unlock()
}

// take takes in one frame: audio is stored and transcribed, a control
// message acted on. It reports whether the frame ends the session, and
// why. Called with takeMu held.
func (ss *session) take(typ int, data []byte) (endReason, bool) {
	s := ss.srv
	switch typ {
	case websocket.BinaryMessage:
		if len(data) == 0 {
			// Deepgram's older clients end a stream with an empty frame.
			return endReason{name: "close_stream", code: websocket.CloseNormalClosure}, true
		}
		if ss.sniffing || ss.opus != nil {
			var end endReason
			if data, end = ss.sniff(data); end.name != "" {
				return end, true
			}
		}
		if err := ss.accept(data); err != nil {
			s.log.Error("write audio", append(ss.attrs(), "err", err)...)
			return endReason{name: "transcription_failed", code: websocket.CloseInternalServerErr, reason: "transcription failed",
				errCode: apierror.CodeTranscriptionError, errDesc: "the audio could not be processed; what was received is drafted"}, true
		}
		s.metrics.audioSeconds.Add(float64(len(data)/2) / float64(ss.p.sampleRate))
		ss.touch()
	case websocket.TextMessage:
		if !utf8.Valid(data) {
			// RFC 6455 8.1: a text frame that is not UTF-8 fails the
			// connection with 1007; the audio before it is drafted.
			return endReason{name: "invalid_utf8", code: websocket.CloseInvalidFramePayloadData, reason: "text frame is not UTF-8",
				errCode: apierror.CodeInvalidMessage, errDesc: "a text frame was not valid UTF-8; the audio before it is kept and drafted"}, true
		}
		typ, err := wire.ParseControl(data)
		var ce *wire.ControlError
		switch {
		case errors.As(err, &ce):
			code := apierror.CodeInvalidMessage
			if ce.UnknownType {
				code = apierror.CodeUnknownMessageType
			}
			ss.sendError(code, ce.Description)
		case typ == wire.KeepAlive:
			ss.touch()
		case typ == wire.Finalize:
			if err := ss.stream.Finalize(); err != nil {
				s.log.Error("finalize", append(ss.attrs(), "err", err)...)
				ss.sendError(apierror.CodeTranscriptionError, "the current utterance could not be flushed")
			}
		case typ == wire.CloseStream:
			return endReason{name: "close_stream", code: websocket.CloseNormalClosure}, true
		}
	}
	return endReason{}, false
}

// touch notes that the client did something that keeps the session open.
func (ss *session) touch() { ss.active.Store(int64(time.Since(ss.started))) }

// idleFor is how long the client has done nothing that keeps the session
// open.
func (ss *session) idleFor() time.Duration {
	return time.Since(ss.started) - time.Duration(ss.active.Load())
}
