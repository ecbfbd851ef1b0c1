package clientconn

import (
	"sync"
	"time"

	"github.com/scribegate/scribegate/gateway/wire"
)

// connWriter is the write side of a session's connection: the session's
// writer goroutine sends every message, ping and close frame through it.
// Durable offsets a connection is sent only grow, and its first Durable
// carries the resume window. After a write fails nothing more is
// written to that connection.
type connWriter struct {
	id     string  // the session's, in every Durable
	rate   int     // the session's sample rate, for Durable's seconds
	window float64 // the session's resume window in seconds, in each connection's first Durable

	mu      sync.Mutex
	conn    Socket // nil while the session waits for its client
	failed  bool   // nothing more is written to conn
	durable int64  // the last Durable sent on conn
	told    bool   // conn has had a Durable, with the resume window
	buf     []byte // the message being written
}

func newConnWriter(c Socket, id string, rate int, window time.Duration) *connWriter {
	w := &connWriter{id: id, rate: rate, window: window.Seconds()}
	w.use(c, 0)
	return w
}

// use makes c (nil: none) the connection written to from now on. durable
// is the last Durable it is taken to have had: a resumed connection's
// first message is the durable offset, whatever the last one said.
func (w *connWriter) use(c Socket, durable int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn, w.failed, w.durable, w.told = c, c == nil, durable, false
}

// attach makes c, a resumed client's connection, the one written to, and
// sends it Durable d before anything else, under one lock.
func (w *connWriter) attach(c Socket, d int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn, w.failed, w.durable, w.told = c, false, -1, false
	w.sendDurableLocked(d)
}

// write writes one text message; after a failure nothing more is
// written. The caller holds mu.
func (w *connWriter) write(b []byte) {
	if w.failed {
		return
	}
	if err := w.conn.WriteText(b); err != nil {
		w.failed = true
	}
}

// message sends msg as JSON, as WriteJSON would, without its allocations;
// the messages sent per utterance encode themselves (wire.AppendJSON). A
// message that cannot be encoded (a NaN from an engine) is not sent and
// its error returned; the connection goes on.
func (w *connWriter) message(msg any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return nil
	}
	b, err := wire.AppendJSON(w.buf[:0], msg)
	w.buf = b
	if err != nil {
		return err
	}
	w.write(b)
	return nil
}

// sendDurable sends Durable d unless the connection has had one as
// large.
func (w *connWriter) sendDurable(d int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendDurableLocked(d)
}

// sendDurableLocked is sendDurable's; the caller holds mu.
func (w *connWriter) sendDurableLocked(d int64) {
	if w.failed || d <= w.durable {
		return
	}
	w.durable = d
	m := wire.NewDurable(d, w.rate, w.id)
	if !w.told {
		m.ResumeWindow = &w.window
	}
	w.told = true
	w.buf, _ = wire.AppendJSON(w.buf[:0], m) // a Durable's numbers are finite
	w.write(w.buf)
}

// ping sends a ping, which keeps the client's read deadline moving.
func (w *connWriter) ping() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return
	}
	if err := w.conn.Ping(); err != nil {
		w.failed = true
	}
}

// close sends the close frame; nothing may follow it.
func (w *connWriter) close(cf closeFrame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return
	}
	w.conn.WriteClose(cf.code, cf.reason)
	w.failed = true
}
