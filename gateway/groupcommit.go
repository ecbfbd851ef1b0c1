package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Group commit: one audioWriter per server stores the audio of every
// session. A session's frames go to its persister; the persister puts
// itself on the writer's list; the writer waits at most DurableInterval
// from the first pending frame (or until DurableBytes are pending), then
// writes every listed session's audio with one AppendAudioBatch — one
// SQLite transaction or one Redis pipeline — and each session acknowledges
// what was stored with Durable. Audio is batched, not stored per frame,
// but across sessions, so an acknowledgement waits a few milliseconds
// instead of a per-session batch interval, and the store does one commit
// for many sessions. The default interval is 10 ms: at 1,000 sessions,
// 5 ms cost some 4% more CPU (twice the journal writes, and the runtime's
// wake-ups after each) for 3-4 ms less Durable latency.
const (
	defaultDurableInterval = 10 * time.Millisecond
	defaultDurableBytes    = 512 << 10
	// After a failed batch the writer waits before trying again,
	// doubling from storeRetryMin up to storeRetryMax.
	storeRetryMin = 50 * time.Millisecond
	storeRetryMax = 2 * time.Second
	// A closing session gives up on the store after this many failed
	// batches in a row (what is stored is what was acknowledged).
	storeAttempts = 5
)

// audioWriter commits every session's pending audio in batches.
type audioWriter struct {
	srv      *Server
	store    review.AudioStore
	interval time.Duration
	bytes    int

	mu      sync.Mutex
	pending []*persister // sessions with audio to store, each once
	size    int          // bytes pending
	urgent  bool         // a closing session waits: write now
	wake    chan struct{}
	full    chan struct{}

	// The writer goroutine's own, reused from batch to batch: the
	// persisters taken from pending, and the appends of those with audio
	// (batch[i] is writing[i]'s).
	batch   []review.AudioAppend
	taken   []*persister
	writing []*persister
}

// audioWriter returns the server's writer, starting it on first use.
func (s *Server) audioWriter() *audioWriter {
	s.recs.writerOnce.Do(func() {
		w := &audioWriter{srv: s, store: s.opts.Audio, interval: s.limits.DurableInterval, bytes: s.limits.DurableBytes,
			wake: make(chan struct{}, 1), full: make(chan struct{}, 1)}
		if w.interval <= 0 {
			w.interval = defaultDurableInterval
		}
		if w.bytes <= 0 {
			w.bytes = defaultDurableBytes
		}
		s.recs.writer = w
		if w.interval <= maxPollInterval {
			// While the poller paces its rounds they are the writer's
			// interval apart: each round's frames are stored as soon as
			// they are taken.
			s.poll.afterRound(w.roundTaken)
		}
		go w.run()
	})
	return s.recs.writer
}

// enqueue lists p for the next batch (once) and counts n more bytes.
func (w *audioWriter) enqueue(p *persister, n int, urgent bool) {
	w.mu.Lock()
	first := len(w.pending) == 0
	if !p.queued {
		p.queued = true
		w.pending = append(w.pending, p)
	}
	w.size += n
	full := w.size >= w.bytes
	w.urgent = w.urgent || urgent
	w.mu.Unlock()
	if first {
		notify(w.wake)
	}
	if full || urgent {
		notify(w.full)
	}
}

// maxPollInterval bounds the time between the poller's rounds: a longer
// DurableInterval batches audio for longer, but frames are still read
// (and transcribed) promptly.
const maxPollInterval = 20 * time.Millisecond

// roundTaken is the poller's word that a paced round's frames are
// taken: the batch goes now rather than when the interval ends, so a
// frame waits for one of the two, not both.
func (w *audioWriter) roundTaken() {
	w.mu.Lock()
	pending := len(w.pending) > 0
	w.mu.Unlock()
	if pending {
		notify(w.full)
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (w *audioWriter) run() {
	ctx := w.srv.base
	t := time.NewTimer(time.Hour)
	t.Stop()
	retry := time.Duration(0)
	for {
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		}
		first := time.Now()
		// Let the batch fill for up to interval, unless it is full or a
		// closing session is waiting.
		w.mu.Lock()
		now := w.urgent || w.size >= w.bytes
		w.mu.Unlock()
		wait := max(w.interval, retry)
		if !now || retry > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-w.full:
				if retry > 0 {
					<-t.C // a failing store is not hammered
				} else if !t.Stop() {
					<-t.C
				}
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-w.full:
		default:
		}
		if w.flush(ctx) {
			retry = 0
			w.srv.metrics.durableLag.Observe(time.Since(first).Seconds())
		} else {
			retry = min(max(2*retry, storeRetryMin), storeRetryMax)
		}
		w.mu.Lock()
		more := len(w.pending) > 0
		w.mu.Unlock()
		if more {
			notify(w.wake)
		}
	}
}

// flush writes one batch of everything pending. It reports false when
// the store failed the whole batch, which stays pending.
func (w *audioWriter) flush(ctx context.Context) bool {
	w.mu.Lock()
	w.taken = append(w.taken[:0], w.pending...)
	clear(w.pending)
	w.pending = w.pending[:0]
	w.size = 0
	w.urgent = false
	for _, p := range w.taken {
		p.queued = false
	}
	w.mu.Unlock()
	if len(w.taken) == 0 {
		return true
	}
	w.batch, w.writing = w.batch[:0], w.writing[:0]
	for i, p := range w.taken {
		w.taken[i] = nil
		p.mu.Lock()
		data := p.buf
		if len(data) == 0 {
			// Listed for its held messages only (deliver): they go now.
			d := p.durable
			p.mu.Unlock()
			p.ack(d)
			continue
		}
		p.buf = p.spare[:0]
		p.spare = nil
		p.inflight = data
		w.batch = append(w.batch, review.AudioAppend{SessionID: p.ss.id, Offset: p.off, Data: data})
		w.writing = append(w.writing, p)
		p.mu.Unlock()
	}
	if len(w.batch) == 0 {
		return true
	}
	began := time.Now()
	err := w.store.AppendAudioBatch(ctx, w.batch)
	w.srv.metrics.storeSeconds.Observe(time.Since(began).Seconds())
	for i, p := range w.writing {
		a := &w.batch[i]
		e := err
		if e == nil {
			e = a.Err
		}
		if e != nil {
			w.srv.log.Error("store audio", append(p.ss.attrs(), "offset", a.Offset, "bytes", len(a.Data), "err", e)...)
		}
		// A failed batch is tried again after a backoff; an append of its
		// own failing (a gap, a mismatch) waits for the session's next
		// frame, or is tried again at once if the session is closing.
		if p.stored(a, e) && (err != nil || p.closingNow()) {
			w.enqueue(p, len(a.Data), false)
		}
		w.batch[i] = review.AudioAppend{}
		w.writing[i] = nil
	}
	return err == nil
}

// persister holds a session's audio until the writer has stored it. The
// audio writer sends each Durable itself, in place (connWriter); when it
// cannot without blocking, stored signals the session's acked channel and
// the session's writer goroutine reads durableNow. An acknowledgement
// costs no goroutine of its own.
type persister struct {
	ss *session
	w  *audioWriter // nil: no store, nothing is kept

	mu       sync.Mutex
	buf      []byte // received, not yet taken by the writer
	spare    []byte // a stored batch's buffer, for reuse
	inflight []byte // taken by the writer, being stored
	off      int64  // offset of the batch to take next
	durable  int64
	queued   bool // on the writer's list (guarded by mu and the writer's mu)
	failures int  // failed batches in a row
	closing  bool

	acked   chan struct{} // more is durable: the session's, for its connection writer
	changed chan struct{} // a batch was stored or failed: for close
}

func newPersister(ss *session, from int64) *persister {
	p := &persister{ss: ss, off: from, durable: from, acked: ss.acked, changed: make(chan struct{}, 1)}
	if ss.srv.opts.Audio != nil {
		p.w = ss.srv.audioWriter()
	}
	return p
}

// add queues b (which the caller may reuse) for the store.
func (p *persister) add(b []byte) {
	if p.w == nil {
		p.mu.Lock()
		p.off += int64(len(b))
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	p.mu.Unlock()
	p.w.enqueue(p, len(b), false)
}

// stored takes the outcome of the writer's append of the batch a. After
// a failure it reports whether the batch should be tried again.
func (p *persister) stored(a *review.AudioAppend, err error) bool {
	p.mu.Lock()
	if err != nil {
		// Keep the batch: the next round tries again.
		p.buf = append(p.inflight, p.buf...)
		p.inflight = nil
		p.failures++
		retry := !(p.closing && p.failures >= storeAttempts)
		durable, closing := p.durable, p.closing
		p.mu.Unlock()
		p.ack(durable) // the held messages need not wait for the store
		if closing {
			notify(p.changed) // it may give up
		}
		return retry
	}
	n := len(a.Data)
	p.off += int64(n)
	p.durable = a.Size
	p.failures = 0
	if p.spare == nil && cap(p.inflight) <= 4*cap(p.buf)+8<<10 {
		p.spare = p.inflight[:0]
	}
	p.inflight = nil
	durable, closing := p.durable, p.closing
	p.mu.Unlock()
	p.ack(durable)
	// Only close waits on changed, and it sets closing (under mu) before
	// it looks at what is stored: a batch stored before then is seen.
	// Sending on a channel no one reads cost 1% of the gateway's CPU at
	// 1,000 sessions.
	if closing {
		notify(p.changed)
	}
	return false
}

// ack sends the session's held messages and Durable d (unless it has had
// one as large) in place, or, when that cannot be done without blocking,
// has the session's writer goroutine send them.
func (p *persister) ack(d int64) {
	if !p.ss.cw.durableInPlace(d) {
		notify(p.acked)
	}
}

// deliver lists the persister for the next batch, so that the messages
// its session's connection writer holds (hold) go out with the batch's
// acknowledgements, within DurableInterval, even when it has no audio to
// store.
func (p *persister) deliver() {
	p.w.enqueue(p, 0, false)
}

// unstored is how many received bytes the store has not yet taken.
func (p *persister) unstored() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(len(p.buf) + len(p.inflight))
}

func (p *persister) closingNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// held is the audio the persister keeps: received and not yet stored,
// and the buffer kept for the next batch.
func (p *persister) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cap(p.buf) + cap(p.inflight) + cap(p.spare)
}

func (p *persister) durableNow() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.durable
}

// close stores what is left, then queues the last Durable message; it
// returns once everything given to add is stored, the store failed for
// good, or the gateway was aborted (what is stored is what was
// acknowledged).
func (p *persister) close() {
	p.mu.Lock()
	p.closing = true
	left := len(p.buf)
	p.mu.Unlock()
	if p.w != nil && left > 0 {
		p.w.enqueue(p, 0, true)
	}
	for p.w != nil {
		p.mu.Lock()
		settled := len(p.buf) == 0 && p.inflight == nil
		giveUp := p.failures >= storeAttempts
		p.mu.Unlock()
		if settled || giveUp {
			break
		}
		select {
		case <-p.changed:
		case <-p.ss.srv.base.Done():
			return
		}
	}
	// Ahead of whatever the session sends next (its note), in order.
	p.ss.send(p.ss.durableMsg(p.durableNow()))
}
