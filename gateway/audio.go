package gateway

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"hash"
	"time"

	"github.com/scribegate/scribegate/gateway/groupcommit"
)

// audioLog is the persistence part of a session: the audio it holds and
// how much of it the store has. Offsets count bytes of the client's audio
// as sent; received is what the session holds (stored or queued for the
// store), and connOff the offset of the current connection's next byte,
// so that audio a resumed client sends again is held once.
type audioLog struct {
	srv  *Server
	rate int              // the session's sample rate
	log  *groupcommit.Log // nil until open
	hash hash.Hash

	received int64
	connOff  int64
}

func newAudioLog(s *Server, rate int) *audioLog {
	return &audioLog{srv: s, rate: rate, hash: sha256.New()}
}

// open starts the session's audio log from what the session holds (what
// the store holds); stored is called each time more of it is stored.
// Without a store it only counts.
func (a *audioLog) open(id string, stored func(), attrs []any) {
	var w *groupcommit.Writer
	if a.srv.opts.Audio != nil {
		w = a.srv.audioWriter()
	}
	a.log = w.Open(id, a.received, func(int64) { stored() }, attrs)
}

// hold takes stored audio in (a rebuilt session's) as held already.
func (a *audioLog) hold(audio []byte) {
	a.hash.Write(audio)
	a.received = int64(len(audio))
}

// take takes a binary frame at the connection's offset: what the session
// already holds is skipped, the rest is queued for the store and returned
// with the offset it starts at.
func (a *audioLog) take(data []byte) (part []byte, start int64, err error) {
	off := a.connOff
	a.connOff += int64(len(data))
	if a.connOff <= a.received {
		return nil, a.received, nil
	}
	if off > a.received {
		// Cannot happen: a connection starts at an offset the session holds.
		return nil, 0, fmt.Errorf("gateway: frame at %d beyond received %d", off, a.received)
	}
	part = data[a.received-off:]
	start = a.received
	a.received += int64(len(part))
	a.hash.Write(part)
	a.log.Add(part)
	return part, start, nil
}

// resumeAt places the next connection's first byte at offset off.
func (a *audioLog) resumeAt(off int64) { a.connOff = off }

// durable is how much of the session's audio is stored.
func (a *audioLog) durable() int64 { return a.log.Durable() }

// close stores what is left of the session's audio, and returns how much
// of it is stored.
func (a *audioLog) close() int64 {
	a.log.Close()
	return a.log.Durable()
}

// seconds is the audio the session holds, in seconds.
func (a *audioLog) seconds() float64 { return float64(a.received/2) / float64(a.rate) }

// maxStoreStall is how long, at most, the reader waits for a store that
// takes none of the session's audio before the client is told.
const maxStoreStall = 10 * time.Second

// waitForStore holds the reader while more of the session's audio waits
// for the store than Limits.MaxUnstored allows: the client's frames back
// up in the socket (a client resending a long stretch after a resume is
// slowed to the store's pace, not refused). It reports false when the
// store took nothing for maxStoreStall (or MaxUnstored, if shorter).
func (a *audioLog) waitForStore(stop <-chan struct{}) bool {
	if !a.behind() {
		return true
	}
	p, limits := a.log, a.srv.limits
	limit := a.maxUnstored()
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

// maxUnstored is Limits.MaxUnstored in bytes of the session's audio.
func (a *audioLog) maxUnstored() int64 {
	return int64(a.srv.limits.MaxUnstored.Seconds() * float64(2*a.rate))
}

// behind reports whether more of the session's audio waits for the
// store than Limits.MaxUnstored allows: the reader must wait for it.
func (a *audioLog) behind() bool {
	p := a.log
	return p != nil && p.Storing() && p.Unstored() > a.maxUnstored()
}
