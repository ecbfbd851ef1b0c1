// Package standin holds what the connectors' EHR stand-ins (fhirtest,
// athenatest, epictest, gentutest, mllptest, webhooktest and the ones
// tests write for themselves) share: a queue of the faults a test injects,
// a log of what the stand-in received, and the access tokens its token
// endpoint issued. All are safe for concurrent use, since a stand-in
// serves requests on many goroutines while the test injects and inspects.
package standin

import (
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
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

// Tokens are the bearer tokens a stand-in's token endpoint issued. A
// token is good until it expires, is used up or is revoked. The zero value
// holds none.
type Tokens struct {
	mu     sync.Mutex
	live   map[string]grant
	issued int
}

// grant is what is left of a token: it expires at until (never, if zero)
// and is good for uses more spent requests (any number, if negative).
type grant struct {
	until time.Time
	uses  int
}

// Issue returns a new token, good until until (for ever, if zero) and for
// uses requests that Spend it (any number, if uses is negative).
func (ts *Tokens) Issue(until time.Time, uses int) string {
	tok := rand.Text()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.live == nil {
		ts.live = map[string]grant{}
	}
	ts.live[tok] = grant{until, uses}
	ts.issued++
	return tok
}

// Check returns nil if r carries (Authorization: Bearer) a token issued
// here that is neither revoked, expired at now nor used up, and why not
// otherwise.
func (ts *Tokens) Check(r *http.Request, now time.Time) error { return ts.check(r, now, false) }

// Spend is Check, and uses up one of the token's requests.
func (ts *Tokens) Spend(r *http.Request, now time.Time) error { return ts.check(r, now, true) }

func (ts *Tokens) check(r *http.Request, now time.Time, spend bool) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errors.New("bearer token required")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.live[tok]
	if !ok || g.uses == 0 || (!g.until.IsZero() && !now.Before(g.until)) {
		return errors.New("access token expired or unknown")
	}
	if spend && g.uses > 0 {
		g.uses--
		ts.live[tok] = g
	}
	return nil
}

// Issued counts the tokens issued so far.
func (ts *Tokens) Issued() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

// RevokeAll invalidates every token issued so far, as an EHR does when it
// rotates keys or restarts.
func (ts *Tokens) RevokeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	clear(ts.live)
}
