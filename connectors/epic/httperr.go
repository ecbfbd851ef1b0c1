package epic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// classify turns a non-success FHIR response into a PushError: 408, 429 and
// 5xx are transient (with the server's Retry-After), other 4xx permanent
// with the OperationOutcome's words.
func classify(resp *http.Response, body []byte, now time.Time) *connectors.PushError {
	msg, ok := fhirdoc.ParseOperationOutcome(body)
	if !ok || msg == "" {
		msg = http.StatusText(resp.StatusCode)
		if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "{<") {
			msg += ": " + s
		}
	}
	pe := &connectors.PushError{StatusCode: resp.StatusCode, Message: "Epic: " + msg}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500:
		pe.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	default:
		pe.Permanent = true
	}
	return pe
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// networkError is a request that got no response: always transient, since
// the document may or may not have arrived (the ledger covers that).
func networkError(ctx context.Context, op string, err error) *connectors.PushError {
	msg := "Epic did not answer " + op
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		msg += " in time"
	}
	return &connectors.PushError{Message: msg, Err: fmt.Errorf("epic: %s: %w", op, err)}
}
