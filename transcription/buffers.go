package transcription

import (
	"fmt"
	"sync"
)

// Buffers recycles the audio buffers of streaming transcription: the
// chunks a segmenter holds audio in, and the copy of each utterance's
// samples handed to the engine. Allocated afresh, those copies were most of
// what a gateway of 1,000 sessions allocated, and collecting them a
// sizeable share of its CPU.
//
// One Buffers is created by whoever runs the streams (the gateway's
// Server) and shared by all of them through StreamConfig.Buffers: a spare
// buffer serves whichever session needs one next, so no session keeps
// spares of its own. It is not a sync.Pool because the collector empties a
// sync.Pool every cycle, and a server run with a low GOGC collects several
// times a second; instead the idle buffers are kept up to a bound in bytes
// (NewBuffers), beyond which a buffer given back is left to the collector,
// so a burst of sessions does not leave its buffers held for good.
//
// Buffers are kept by capacity; the segmenter asks in whole chunks of
// 0.5 s, so an utterance's buffer is its length rounded up to the next
// half second and the buffers of one length serve many utterances.
//
// A Buffers is safe for concurrent use. A nil *Buffers allocates every
// buffer and keeps none given back.
type Buffers struct {
	max int // bytes kept idle at most

	mu     sync.Mutex
	free   map[int]*freeList // idle buffers by capacity in samples
	idle   int               // bytes in free
	puts   uint64            // numbers the buffers given back, for idleBuf.seq
	gets   uint64
	misses uint64
	// check, set by tests, makes Put look for the buffer among the idle
	// ones first (a buffer given back twice would be handed out twice) and
	// overwrite it (so whatever reads it after it was given back reads
	// other audio at once, not only once it is reused).
	check bool
}

// idleBuf is an idle buffer and when it was given back.
type idleBuf struct {
	s   []int16
	seq uint64
}

// freeList is the idle buffers of one capacity, oldest first: bufs[head:]
// (those before head were dropped as the oldest). At the bound every Put
// drops the oldest buffer; moving the rest down each time cost a copy of
// the whole list, thousands of entries at a thousand sessions.
type freeList struct {
	bufs []idleBuf
	head int
}

func (l *freeList) len() int { return len(l.bufs) - l.head }

// pop takes the buffer given back last (it is the likeliest in cache).
func (l *freeList) pop() []int16 {
	n := len(l.bufs) - 1
	s := l.bufs[n].s
	l.bufs[n] = idleBuf{}
	l.bufs = l.bufs[:n]
	if n == l.head {
		l.bufs, l.head = l.bufs[:0], 0
	}
	return s
}

// dropOldest lets the oldest buffer go, moving the rest down only once
// half the list is gone, so each drop costs O(1) amortized.
func (l *freeList) dropOldest() {
	l.bufs[l.head] = idleBuf{}
	l.head++
	switch {
	case l.head == len(l.bufs):
		l.bufs, l.head = l.bufs[:0], 0
	case l.head >= 16 && 2*l.head >= len(l.bufs):
		n := copy(l.bufs, l.bufs[l.head:])
		clear(l.bufs[n:])
		l.bufs, l.head = l.bufs[:n], 0
	}
}

// BuffersStats reports on a Buffers, for metrics: a miss rate that stays
// high says the bound is too small for the load.
type BuffersStats struct {
	// IdleBytes is the audio held for reuse and used by no stream.
	IdleBytes int
	// Gets counts the buffers asked for; Misses those that had to be
	// allocated because none of their size was idle.
	Gets, Misses uint64
}

// NewBuffers returns a Buffers that keeps at most maxBytes of idle buffers,
// letting those idle longest go first. The idle buffers a server needs grow
// with how many sessions it runs: 32 KiB a session lets 200 sessions
// allocate next to nothing (BenchmarkSegmenterSessions, where they idle at
// about 23 KiB a session), half that lets them allocate most of what they
// did without it, and a bound far above only keeps a past burst's buffers.
func NewBuffers(maxBytes int) *Buffers {
	return &Buffers{max: maxBytes, free: make(map[int]*freeList)}
}

// get returns an empty buffer with room for n samples, its capacity
// rounded up to a whole number of units, or up to a quarter (and at least
// a unit) more if that is what is idle: keeping idle buffers of every
// length an utterance may have would take far more memory than that
// waste, which lasts only while the engine has the utterance.
func (b *Buffers) get(n, unit int) []int16 {
	if b == nil {
		return make([]int16, 0, n)
	}
	size := (n + unit - 1) / unit * unit
	return b.take(size, size+max(unit, size/4), unit)
}

// chunk returns an empty buffer of capacity exactly size.
func (b *Buffers) chunk(size int) []int16 {
	if b == nil {
		return make([]int16, 0, size)
	}
	return b.take(size, size, size)
}

// take returns an idle buffer of capacity size, size+step, … up to most,
// or a new one of capacity size.
func (b *Buffers) take(size, most, step int) []int16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets++
	for c := size; c <= most; c += step {
		if l := b.free[c]; l != nil && l.len() > 0 {
			b.idle -= 2 * c
			return l.pop()
		}
	}
	b.misses++
	return make([]int16, 0, size)
}

// Put gives samples back for reuse. The caller must be done with them:
// neither it nor anything it passed them to may read or write them after,
// and they must not be given back twice. Samples of any size may be given,
// but only those of the sizes the segmenter asks for are asked for again.
func (b *Buffers) Put(samples []int16) {
	size := cap(samples)
	if b == nil || size == 0 {
		return
	}
	samples = samples[:0]
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.check && b.free[size] != nil {
		p := &samples[:1][0]
		for _, e := range b.free[size].bufs[b.free[size].head:] {
			if &e.s[:1][0] == p {
				panic(fmt.Sprintf("transcription: a buffer of %d samples given back twice", size))
			}
		}
		for i := range samples[:size] {
			samples[:size][i] = -0x5555
		}
	}
	if 2*size > b.max {
		return // left to the collector
	}
	// Beyond the bound, the buffers idle longest are left to the
	// collector: their lengths are the ones least in demand.
	for b.idle+2*size > b.max {
		b.dropOldest()
	}
	b.puts++
	l := b.free[size]
	if l == nil {
		l = &freeList{}
		b.free[size] = l
	}
	l.bufs = append(l.bufs, idleBuf{s: samples, seq: b.puts})
	b.idle += 2 * size
}

// dropOldest lets the buffer idle longest go. Called with b.mu held and
// some buffer idle.
func (b *Buffers) dropOldest() {
	oldest := -1
	var ol *freeList
	for c, l := range b.free {
		if l.len() > 0 && (ol == nil || l.bufs[l.head].seq < ol.bufs[ol.head].seq) {
			oldest, ol = c, l
		}
	}
	ol.dropOldest()
	b.idle -= 2 * oldest
}

// Stats reports the idle bytes and how often buffers were reused.
func (b *Buffers) Stats() BuffersStats {
	if b == nil {
		return BuffersStats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return BuffersStats{IdleBytes: b.idle, Gets: b.gets, Misses: b.misses}
}
