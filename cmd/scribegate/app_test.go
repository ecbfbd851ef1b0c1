package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/sealed/sealedtest"
)

// TestStoreOpenFails: a store that cannot open makes newApp return the
// store's own error; closing the half-built app does not panic on a
// typed-nil store.
func TestStoreOpenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.RedisURL = "redis", "redis://"+addr+"/0"
	_, err = newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "redisstore") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("newApp with an unreachable store: %v, want the store's error naming %s", err, addr)
	}
}

// TestStartsWhileIdentityProviderDown: with single sign-on configured
// and the OpenID provider unreachable, the gateway starts; sign-in
// answers 503 provider_unavailable rather than the gateway refusing to
// run (and bearer tokens wait for the provider's key set).
func TestStartsWhileIdentityProviderDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	l.Close() // the provider is down
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Transcription.Engine = "synthetic"
	cfg.PublicURL = "http://127.0.0.1:8080"
	cfg.Store.Path = filepath.Join(cfg.DataDir, "scribegate.db")
	cfg.SSO.OIDC.Issuer, cfg.SSO.OIDC.ClientID = issuer, "scribegate"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("the gateway did not start while the identity provider is down: %v", err)
	}
	defer a.close()
	rec := httptest.NewRecorder()
	a.server.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/auth/login", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Scribegate-Error-Code") != "provider_unavailable" {
		t.Errorf("GET /auth/login with the provider down: %d %q, want 503 provider_unavailable", rec.Code, rec.Header().Get("Scribegate-Error-Code"))
	}
}

// TestRedisSealsSignIns: the gateway gives the Redis store its encryption
// keys, so that sign-in sessions are sealed there as in SQLite.
func TestRedisSealsSignIns(t *testing.T) {
	url := redistest.URL(t)
	cfg := defaultConfig()
	cfg.Store.Driver, cfg.Store.RedisURL = "redis", url
	ctx := context.Background()
	st, err := openStore(ctx, cfg, sealedtest.Ring(t, sealedtest.Key("k1")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const key = "session:s1" // a fresh server per test: nothing else is there
	if err := st.PutSignIn(ctx, key, []byte(`{"sub":"prac-1"}`), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if raw := redistest.Client(t, url).Get(ctx, redisstore.DefaultPrefix+"signin:"+key).Val(); raw == "" || strings.Contains(raw, "prac-1") {
		t.Errorf("Redis holds the sign-in as %q, want it sealed", raw)
	}
}
