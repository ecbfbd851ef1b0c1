// Package accesslog is the gateway's access log: every request logged and
// counted by its route pattern, so that neither logs nor metric labels
// carry ids or patient data from paths and queries.
package accesslog

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scribegate/scribegate/connectors/httpstatus"
)

// Handler logs (at Info, to log) and counts every request next serves by
// its route pattern, never by its raw path, and with the note id when
// there is one; bodies and query values (patient ids) are never logged.
// Its collectors, scribegate_http_requests_total and
// scribegate_http_request_duration_seconds, are registered on reg.
func Handler(next http.Handler, log *slog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scribegate_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "scribegate_http_request_duration_seconds", Help: "HTTP request latency by route (excluding WebSocket sessions).",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	for _, c := range []prometheus.Collector{requests, duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &httpstatus.Writer{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.Status == 0 {
			sw.Status = http.StatusOK
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		requests.WithLabelValues(route, strconv.Itoa(sw.Status)).Inc()
		if sw.Status != http.StatusSwitchingProtocols {
			duration.WithLabelValues(route).Observe(elapsed.Seconds())
		}
		attrs := []any{"method", r.Method, "route", route, "status", sw.Status, "duration", elapsed}
		if id := r.PathValue("id"); id != "" {
			attrs = append(attrs, "note_id", id)
		}
		log.InfoContext(r.Context(), "http request", attrs...)
	}), nil
}
