package noteapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
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
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "notes.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t}
	e.svc = review.NewService(store, review.ServiceOptions{Check: notes.Check, Logger: discard, Events: review.NewLocalBroker()})
	verifier, err := auth.New(ctx, auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	drain := make(chan struct{})
	opts := Options{Auth: verifier, Notes: e.svc, Templates: tpls, Drain: drain, Logger: discard,
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
