package noteapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

var (
	testSecret = []byte("noteapi-test-secret")
	discard    = slog.New(slog.DiscardHandler)
)

// env is the API served over HTTP on a real review service (SQLite store,
// local event broker), as the gateway mounts it.
type env struct {
	t     testing.TB
	hs    *httptest.Server
	svc   *review.Service
	kicks atomic.Int32
}

func newEnv(t testing.TB, mutate func(*Options)) *env {
	t.Helper()
	e := &env{t: t}
	parts := resttest.NewParts(t, testSecret, review.ServiceOptions{Check: notes.Check, Logger: discard, Events: review.NewLocalBroker()})
	e.svc = parts.Service
	drain := make(chan struct{})
	opts := Options{Auth: parts.Auth, Notes: e.svc, Templates: parts.Templates, Drain: drain, Logger: discard,
		OnApproved: func() { e.kicks.Add(1) }}
	if mutate != nil {
		mutate(&opts)
	}
	mux := http.NewServeMux()
	New(opts).Register(mux)
	e.hs = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(drain)
		e.hs.Close()
	})
	return e
}

func token(t testing.TB, sub, clinic string, role review.Role) string {
	t.Helper()
	return resttest.Token(t, testSecret, sub, clinic, role)
}

// do makes a REST request and decodes the JSON answer into out (when not
// nil); it returns the response.
func (e *env) do(method, path, tok string, body any, out any, hdr ...string) *http.Response {
	e.t.Helper()
	return resttest.Do(e.t, e.hs.URL, method, path, tok, body, out, hdr...)
}
