package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// writeWait bounds every write to a client: a client that takes no more
// for this long has its connection failed, so a writer never waits on it
// for longer.
const writeWait = 10 * time.Second

// connWriter is the write side of a session's connection. The session's
// writer goroutine sends its messages through it, and the audio writer
// sends each session's Durable through it right after the batch is stored
// (durableInPlace): a streaming client gets one per frame, and handing each
// to the writer goroutine cost a goroutine's wake-up per frame, more than
// the write itself. The messages a stream produces as it goes (Results,
// SpeechStarted, UtteranceEnd, live NoteDrafts) are held (hold) and go out
// with the next Durable, in the same write: a write to a socket costs the
// sender the receiver's side of loopback too, and a Durable follows within
// DurableInterval anyway. Every write to the connection, gorilla's pongs
// and close echo included (handleControl), is made under mu, which is what
// makes a frame written straight to the socket safe beside gorilla's.
type connWriter struct {
	id     string  // the session's, in every Durable
	rate   int     // the session's sample rate, for Durable's seconds
	window float64 // the session's resume window in seconds, in each connection's first Durable

	mu       sync.Mutex
	conn     *websocket.Conn // nil while the session waits for its client
	raw      tryWriter       // conn's socket, for Durable in place; nil: only through gorilla
	failed   bool            // nothing more is written to conn
	durable  int64           // the last Durable sent on conn
	told     bool            // conn has had a Durable, with the resume window
	deadline time.Time       // conn's write deadline, as last set through gorilla
	rest     []byte          // the unsent end of a frame written in place: it goes first
	held     []byte          // whole text frames waiting for the next write (hold): they go next
	buf      bytes.Buffer    // a message is encoded here, then written whole
	enc      *json.Encoder
	payload  []byte // a Durable written in place (its frame goes after held's)
}

// tryWriter makes one write to a connection that never waits: it returns
// at once with what the socket took (inPlaceWriter).
type tryWriter interface {
	tryWrite(b []byte) (int, error)
}

func newConnWriter(c *websocket.Conn, id string, rate int, window time.Duration) *connWriter {
	w := &connWriter{id: id, rate: rate, window: window.Seconds()}
	w.enc = json.NewEncoder(&w.buf)
	w.use(c, 0)
	return w
}

// use makes c (nil: none) the connection written to from now on. durable
// is the last Durable it is taken to have had: a resumed connection's
// first message is the durable offset, whatever the last one said.
func (w *connWriter) use(c *websocket.Conn, durable int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reset(c, durable)
}

// attach makes c, a resumed client's connection, the one written to, and
// sends it Durable d before anything else, under one lock: a message held
// for the next batch (hold) between the two would otherwise reach the
// client before the offset it is to resend from.
func (w *connWriter) attach(c *websocket.Conn, d int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reset(c, -1)
	w.sendDurableLocked(d)
}

// reset is use's; the caller holds mu.
func (w *connWriter) reset(c *websocket.Conn, durable int64) {
	// Held messages were the last connection's, as the writer's queued
	// messages before an attach are: a resumed client learns the durable
	// offset and its transcript goes on from there.
	w.conn, w.failed, w.durable, w.deadline, w.rest, w.held = c, c == nil, durable, time.Time{}, nil, w.held[:0]
	w.told = false
	w.raw = nil
	if c != nil {
		w.raw = inPlaceWriter(c)
	}
}

// handleControl answers c's pings and close frame under mu, as gorilla's
// default handlers would without it. It is set before c is read from.
func (w *connWriter) handleControl(c *websocket.Conn) {
	c.SetPingHandler(func(data string) error {
		w.control(c, websocket.PongMessage, []byte(data))
		return nil
	})
	c.SetCloseHandler(func(code int, _ string) error {
		w.control(c, websocket.CloseMessage, websocket.FormatCloseMessage(code, ""))
		return nil
	})
}

func (w *connWriter) control(c *websocket.Conn, typ int, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c == w.conn && !w.flushPending() {
		return
	}
	// A failure is the reader's to find; a close already sent is fine.
	c.WriteControl(typ, data, time.Now().Add(writeWait))
}

// flushPending writes what a write in place left unsent and then the
// held messages, waiting for the client as gorilla's writes do, so that
// whatever is written next comes after them. The caller holds mu.
func (w *connWriter) flushPending() bool {
	if w.failed {
		return false
	}
	if w.rest == nil && len(w.held) == 0 {
		return true
	}
	nc := w.conn.NetConn()
	nc.SetWriteDeadline(time.Now().Add(writeWait))
	for _, b := range [][]byte{w.rest, w.held} {
		if len(b) == 0 {
			continue
		}
		if _, err := nc.Write(b); err != nil {
			w.fail()
			return false
		}
	}
	w.rest = nil
	w.releaseHeld()
	return true
}

// fail marks the connection failed: nothing more is written to it, and
// what waited to be is dropped. The caller holds mu.
func (w *connWriter) fail() {
	w.failed = true
	w.rest = nil
	w.releaseHeld()
}

// releaseHeld empties held, keeping its buffer unless a large message
// (a long draft) grew it: a thousand sessions each keep what their
// Results take, not what their largest NoteDraft did.
func (w *connWriter) releaseHeld() {
	if cap(w.held) > maxKeptHeld {
		w.held = nil
	} else {
		w.held = w.held[:0]
	}
}

// maxKeptHeld bounds the held buffer a connWriter keeps between writes.
const maxKeptHeld = 4 << 10

// write writes one message through gorilla; after a failure nothing more
// is written. The caller holds mu.
func (w *connWriter) write(typ int, b []byte) {
	if !w.flushPending() {
		return
	}
	// Moving the deadline costs a timer update: it is moved when a tenth
	// of writeWait has passed, not before every message.
	if now := time.Now(); w.deadline.Sub(now) < writeWait-writeWait/10 {
		w.deadline = now.Add(writeWait)
		w.conn.SetWriteDeadline(w.deadline)
	}
	if err := w.conn.WriteMessage(typ, b); err != nil {
		w.fail()
	}
}

// message sends msg as JSON, as WriteJSON would, without its allocations;
// the messages sent per utterance encode themselves (messages_json.go). A
// message that cannot be encoded (a NaN from an engine) is not sent and
// its error returned; the connection goes on.
func (w *connWriter) message(msg any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return nil
	}
	w.buf.Reset()
	if err := encodeMessage(&w.buf, w.enc, msg); err != nil {
		return err
	}
	w.write(websocket.TextMessage, w.buf.Bytes())
	return nil
}

// hold encodes msg as a text frame to be written with the next write in
// place (durableInPlace, which the audio writer makes within
// DurableInterval of the caller asking it to: persister.deliver) or
// before anything the writer goroutine writes, whichever comes first. It
// reports false when msg must go through the writer goroutine instead:
// there is no socket to write in place, or the connection has failed or
// is being replaced (the writer drops or delivers it, as it does its
// queue). A message that cannot be encoded is not held; its error is
// returned.
func (w *connWriter) hold(msg any) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed || w.raw == nil {
		return false, nil
	}
	w.buf.Reset()
	if err := encodeMessage(&w.buf, w.enc, msg); err != nil {
		return true, err
	}
	w.held = appendTextFrame(w.held, w.buf.Bytes())
	return true, nil
}

// sendDurable sends Durable d unless the connection has had one as large,
// first finishing a write in place and sending the held messages.
func (w *connWriter) sendDurable(d int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendDurableLocked(d)
}

// sendDurableLocked is sendDurable's; the caller holds mu.
func (w *connWriter) sendDurableLocked(d int64) {
	if !w.flushPending() || d <= w.durable {
		return
	}
	w.durable = d
	w.buf.Reset()
	w.buf.Write(w.durableMsg(d).appendJSON(w.buf.AvailableBuffer()))
	w.told = true
	w.write(websocket.TextMessage, w.buf.Bytes())
}

// durableMsg is Durable d for conn: its first carries the resume window.
// The caller holds mu.
func (w *connWriter) durableMsg(d int64) durableMsg {
	m := newDurableMsg(d, w.rate, w.id)
	if !w.told {
		m.ResumeWindow = &w.window
	}
	return m
}

// durableInPlace sends the held messages and then Durable d, unless the
// connection has had one as large, from the caller's goroutine without
// ever blocking: text frames written straight to the socket, which is
// non-blocking underneath, with one write. It reports false when the
// writer goroutine must finish the job (sendDurable): another write is in
// progress, the socket takes none or only part of the frames, or there is
// no socket to write to.
func (w *connWriter) durableInPlace(d int64) bool {
	if !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	ack := d > w.durable
	if w.failed || (!ack && len(w.held) == 0) {
		return true
	}
	if w.raw == nil || w.rest != nil {
		return false
	}
	out := w.held
	if ack {
		w.payload = w.durableMsg(d).appendJSON(w.payload[:0])
		out = appendTextFrame(out, w.payload)
	}
	// An error (the socket's buffer is full, the deadline gorilla last set
	// has passed, the socket failed) is left to the writer goroutine,
	// which waits, moves the deadline or finds the failure.
	n, _ := w.raw.tryWrite(out)
	switch {
	case n == len(out):
	case n > 0:
		// A frame is begun: the rest must go before anything else.
		w.rest = append([]byte(nil), out[n:]...)
	default:
		w.held = out[:len(w.held)] // the writer sends them, then the Durable
		return false
	}
	if ack {
		w.durable, w.told = d, true
	}
	w.held = out
	w.releaseHeld()
	return n == len(out)
}

// ping sends a ping, which keeps the client's read deadline moving.
func (w *connWriter) ping() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.flushPending() {
		return
	}
	if err := w.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
		w.fail()
	}
}

// close sends the close frame; nothing may follow it.
func (w *connWriter) close(cf closeFrame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.flushPending() {
		return
	}
	w.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(cf.code, cf.reason))
	w.fail()
}

// appendTextFrame appends payload as one unmasked, final text frame, as a
// server sends it (RFC 6455, section 5.2).
func appendTextFrame(dst, payload []byte) []byte {
	const finText = 0x81
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n <= 0xffff:
		dst = append(dst, finText, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finText, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}
