package transcription

import (
	"context"
	"io"
	"sync/atomic"
	"time"
)

// LimitedEngine is an Engine that lets at most a fixed number of calls
// through to the engine it wraps at once, across every session of the
// gateway. Each Stream bounds its own calls (StreamConfig.Concurrency), but
// a thousand streams would still send a thousand requests at once: a paid
// engine answers that with rate limits, a local one with a machine
// thrashing. Callers beyond the limit wait their turn, in no promised
// order, for as long as their context allows.
type LimitedEngine struct {
	e        Engine
	slots    chan struct{}
	waiting  atomic.Int64
	inFlight atomic.Int64
}

// Limit wraps e so that at most n of its calls run at once; n <= 0 means
// no limit and returns a wrapper that only counts.
func Limit(e Engine, n int) *LimitedEngine {
	l := &LimitedEngine{e: e}
	if n > 0 {
		l.slots = make(chan struct{}, n)
	}
	return l
}

// Transcribe waits for a free slot and then calls the wrapped engine. A
// ctx that ends while waiting returns its error: a deadline counts as a
// failed attempt like any timeout (see IsTransient), a cancellation as
// the end of the stream.
func (l *LimitedEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	if l.slots != nil {
		select {
		case l.slots <- struct{}{}:
		default:
			l.waiting.Add(1)
			select {
			case l.slots <- struct{}{}:
				l.waiting.Add(-1)
			case <-ctx.Done():
				l.waiting.Add(-1)
				return Transcript{}, ctx.Err()
			}
		}
		defer func() { <-l.slots }()
	}
	l.inFlight.Add(1)
	defer l.inFlight.Add(-1)
	return l.e.Transcribe(ctx, u)
}

// CallTimeout is the wrapped engine's bound on a call for u (0: it
// names none), so that the Stream gives a long utterance the time its
// engine asks for. Time spent waiting for a slot counts against it: a
// call that times out here was never sent, and costs the engine nothing.
func (l *LimitedEngine) CallTimeout(u Utterance) time.Duration {
	if e, ok := l.e.(interface{ CallTimeout(Utterance) time.Duration }); ok {
		return e.CallTimeout(u)
	}
	return 0
}

// InFlight is how many calls are with the wrapped engine now, for metrics.
func (l *LimitedEngine) InFlight() int { return int(l.inFlight.Load()) }

// Waiting is how many calls wait for a slot now, for metrics: a queue that
// stays long says the limit, or the engine, is too small for the load.
func (l *LimitedEngine) Waiting() int { return int(l.waiting.Load()) }

// Cap is the limit, 0 when there is none.
func (l *LimitedEngine) Cap() int { return cap(l.slots) }

// Close closes the wrapped engine when it holds resources (the offline
// engine's decoders), so whoever owns the limit owns the engine.
func (l *LimitedEngine) Close() error {
	if c, ok := l.e.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
