package noteapi

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
)

// TestForgedCursor: a cursor the API did not make gets a stable error
// naming the parameter, with nothing of the decoder's own text.
func TestForgedCursor(t *testing.T) {
	e := newEnv(t, nil)
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	for _, c := range []string{"!!!!", base64.RawURLEncoding.EncodeToString([]byte("not-a-time:x")), base64.RawURLEncoding.EncodeToString([]byte("2026-01-01T00:00:00Z"))} {
		var body apierror.Body
		r := e.do("GET", "/v1/notes?cursor="+c, clin, nil, &body)
		resttest.WantError(t, r, body, 400, apierror.CodeInvalidQuery)
		if body.Error.Param != "cursor" || strings.Contains(body.Error.Message, "illegal") || strings.Contains(body.Error.Message, "parsing") || strings.Contains(body.Error.Message, "(") {
			t.Errorf("cursor %q: %+v", c, body.Error)
		}
	}
}

// TestEventStreamEndsWithItsToken: a stream ends (token_expired) when the
// token it was opened with does, and one user holds a bounded number.
func TestEventStreamEndsWithItsToken(t *testing.T) {
	e, _ := queueEnv(t)
	short := resttest.ExpiringToken(t, testSecret, "rev-1", "c1", review.RoleReviewer, 2*time.Second)
	ev := readEvents(t, openEvents(t, e, short))
	// The bound only keeps a broken build from hanging: a stream that
	// outlives its token goes on for ever.
	var last sse
	for got := range timeout(ev, 20*time.Second) {
		last = got
	}
	if last.event != "token_expired" {
		t.Errorf("the stream ended after %+v, want token_expired", last)
	}

	tok := token(t, "rev-2", "c1", review.RoleReviewer)
	for range 8 {
		openEvents(t, e, tok)
	}
	var eb apierror.Body
	resttest.WantError(t, e.do("GET", "/v1/events", tok, nil, &eb), eb, http.StatusTooManyRequests, apierror.CodeTooManyStreams)
	// Another user of the clinic is not held back by rev-2's streams.
	openEvents(t, e, token(t, "rev-3", "c1", review.RoleReviewer))
}

// timeout passes on ch's values until it closes or d passes.
func timeout[T any](ch <-chan T, d time.Duration) <-chan T {
	out := make(chan T)
	go func() {
		defer close(out)
		deadline := time.After(d)
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return
				}
				out <- v
			case <-deadline:
				return
			}
		}
	}()
	return out
}
