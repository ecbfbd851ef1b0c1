package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
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
