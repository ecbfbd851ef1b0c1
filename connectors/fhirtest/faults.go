package fhirtest

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// faults is a queue of injected faults, safe for concurrent use: the
// Server and TokenFaults embed one, so that a test injects into either the
// same way.
type faults struct {
	mu sync.Mutex
	q  []Fault
}

// Inject queues f for the next n requests it matches.
func (q *faults) Inject(f Fault, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range n {
		q.q = append(q.q, f)
	}
}

// PendingFaults returns how many injected faults have not fired yet.
func (q *faults) PendingFaults() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// take consumes the first queued fault that match accepts.
func (q *faults) take(match func(Fault) bool) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.q {
		if match(f) {
			q.q = slices.Delete(q.q, i, i+1)
			return f, true
		}
	}
	return Fault{}, false
}

// stall holds a request for f.Delay; it is false when the client gave up
// first.
func (f Fault) stall(ctx context.Context) bool {
	if f.Delay <= 0 {
		return true
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// setRetryAfter sends f.RetryAfter, when set, as a Retry-After header in
// whole seconds (rounded up).
func (f Fault) setRetryAfter(h http.Header) {
	if f.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
}
