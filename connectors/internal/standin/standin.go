// Package standin holds what the connectors' EHR stand-ins (fhirtest,
// athenatest, mllptest, webhooktest) share: a queue of the faults a test
// injects and a log of what the stand-in received. Both are safe for
// concurrent use, since a stand-in serves requests on many goroutines
// while the test injects and inspects.
package standin

import (
	"slices"
	"sync"
)

// Faults is a queue of injected faults. The zero value is an empty queue.
type Faults[F any] struct {
	mu sync.Mutex
	q  []F
}

// Inject queues f for the next n requests it matches.
func (q *Faults[F]) Inject(f F, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range n {
		q.q = append(q.q, f)
	}
}

// PendingFaults returns how many injected faults have not fired yet.
func (q *Faults[F]) PendingFaults() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// Take consumes the first queued fault that match accepts; a nil match
// accepts any.
func (q *Faults[F]) Take(match func(F) bool) (F, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.q {
		if match == nil || match(f) {
			q.q = slices.Delete(q.q, i, i+1)
			return f, true
		}
	}
	var none F
	return none, false
}

// Log is what a stand-in received (requests, refusals), in order. The zero
// value is an empty log.
type Log[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add appends v.
func (l *Log[T]) Add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
}

// All returns a copy of what was logged so far.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}
