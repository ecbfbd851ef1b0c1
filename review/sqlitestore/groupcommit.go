package sqlitestore

import (
	"sync"
	"sync/atomic"
	"time"
)

// Transcript appends are committed in groups. A streaming session stores
// each final utterance and waits for it before it sends the result on
// (save, then send: a result a client saw is never lost by a crash), so a
// thousand sessions make some 250 appends a second, spread over time. As
// autocommit statements each was a transaction of its own — the write
// lock taken and released, the same log pages written to the WAL again —
// and together they were about 6% of the gateway's CPU. A group's appends
// run in one transaction instead, each still its own INSERT ... SELECT
// with its own outcome, and commit once.
//
// Waiting only for contention would not batch here: at 250 appends a
// second one usually finds the writer idle (with no window,
// TestAppendTranscriptGroupsPacedAppends sees a transaction an append). So
// the first append of a group, its leader, waits a short window for
// others, then runs the group on its own goroutine and wakes the others
// with their outcomes; a full group goes at once. The leader, not a
// goroutine of the store's, runs the group because at this rate a
// goroutine woken costs a good part of what an append does (the Go
// runtime wakes an idle thread through a futex): a committer goroutine
// would be woken twice more a group, to start the window and to end it.
//
// Measured with BenchmarkAppendTranscript/Paced250 (1,000 sessions, 250
// appends a second at random times, two cores; median process CPU per
// append, about 60 µs of which is the benchmark's own pacing): one
// transaction an append took about 175 µs; a 2 ms window gathers 1.5
// appends a group and costs more (about 215 µs), the wakes outweighing
// the shared commits; 5 ms gathers 2.3 (about 165 µs), 10 ms 3.6 (about
// 160 µs), 20 ms 6.1 (about 130–145 µs). Flat out (Parallel, 64
// sessions) groups are full and an append costs about 17 µs, not 42.
const (
	// transcriptWindow is how long a group gathers. Each append waits
	// up to that much longer, which a client does not notice beside the
	// seconds an utterance lasts and the hundreds of milliseconds its
	// final result takes to be transcribed; 20 ms would save a little
	// more CPU at twice the wait, 2 ms would cost more than one
	// transaction an append.
	transcriptWindow = 10 * time.Millisecond
	// transcriptGroup appends make a full group, committed without
	// waiting for the window to end: by then the transaction's own cost
	// is small beside the appends' (about 17 µs an append against 42
	// alone), and a burst is not held for the rest of the window.
	transcriptGroup = 64
)

// appendReq is one caller's append, waiting in a committer.
type appendReq struct {
	noteID  string
	body    string // the utterances, encoded
	through int64
	done    chan error // the outcome; buffered, so a leader never waits
}

// committer gathers transcript appends into groups and has run commit
// each group in one transaction, on the goroutine of the group's first
// caller. Close waits for every group already begun, so an append that
// was accepted is never dropped.
type committer struct {
	run    func([]*appendReq) // runs a group's appends and sends each its outcome
	window time.Duration
	group  int

	mu     sync.Mutex
	cur    []*appendReq // the group gathering, nil when none is
	closed bool

	timer *time.Timer   // the gathering leader's window
	full  chan struct{} // the gathering group is full
	stop  chan struct{} // closed by close: commit at once
	lead  sync.WaitGroup

	txs, appends atomic.Int64 // groups and appends committed, for benchmarks and tests
}

func newCommitter(window time.Duration, group int, run func([]*appendReq)) *committer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &committer{run: run, window: window, group: max(group, 1),
		timer: t, full: make(chan struct{}, 1), stop: make(chan struct{})}
}

// append runs r in a group and returns once r.done holds its outcome. It
// reports false, running nothing, once the committer is closed.
func (c *committer) append(r *appendReq) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.cur = append(c.cur, r)
	leader := len(c.cur) == 1
	if leader {
		c.lead.Add(1)
	}
	if len(c.cur) == c.group {
		// Sent under mu, so detach, which drains it under mu, never
		// leaves one behind for the next group.
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	if !leader {
		return true // the caller waits for the leader to send the outcome
	}
	defer c.lead.Done()
	// Only one group gathers at a time, so its leader has the timer to
	// itself until it detaches the group.
	c.timer.Reset(c.window)
	select {
	case <-c.timer.C:
	case <-c.full:
	case <-c.stop:
	}
	c.timer.Stop()
	g := c.detach()
	c.run(g)
	c.txs.Add(1)
	c.appends.Add(int64(len(g)))
	return true
}

// detach ends the gathering group and returns it; the next append starts
// another.
func (c *committer) detach() []*appendReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.cur
	c.cur = nil
	select {
	case <-c.full:
	default:
	}
	return g
}

// close makes the group gathering commit at once and returns when every
// group begun has; append refuses appends from then on. It may be called
// more than once.
func (c *committer) close() {
	c.mu.Lock()
	was := c.closed
	c.closed = true
	c.mu.Unlock()
	if !was {
		close(c.stop)
	}
	c.lead.Wait()
}
