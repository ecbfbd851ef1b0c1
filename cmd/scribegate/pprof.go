package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// servePprof serves the Go profiler's /debug/pprof/ on addr (serve
// -pprof) until ctx ends, so that `scribegate load -profile` can take CPU
// and heap profiles of the gateway under load, and an execution trace
// (/debug/pprof/trace) shows where its goroutines wait. It is a
// development aid: with addr empty nothing listens, and addresses other
// than loopback are refused, since profiles show the process's memory.
func servePprof(ctx context.Context, addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	if err := loopbackOnly(addr); err != nil {
		log.Error("pprof not served", "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("pprof not served", "err", err)
		return
	}
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof stopped", "err", err)
		}
	}()
}
