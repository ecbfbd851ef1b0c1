package fhirtest

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// faults is the queue of injected faults: the Server and TokenFaults
// embed one, so that a test injects into either the same way.
type faults = standin.Faults[Fault]

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
