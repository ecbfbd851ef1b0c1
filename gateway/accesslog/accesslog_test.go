package accesslog

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHandler: requests are logged and counted by route pattern with the
// note id, never by path or query (which carry patient ids); a hijacked
// connection (a WebSocket) counts as 101 and is not timed.
func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/notes/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.HandleFunc("GET /v1/listen", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the access log: %v", err)
			return
		}
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n"))
		c.Close()
	})
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	h, err := Handler(mux, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	// served tells when the access log is done with a request: the
	// client may read the answer before.
	served := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		served <- struct{}{}
	}))
	defer hs.Close()
	for _, path := range []string{"/v1/notes/n-1?patient=Jane-Citizen", "/nowhere/Jane-Citizen", "/v1/listen?patient=Jane-Citizen"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		<-served
	}
	if strings.Contains(logs.String(), "Jane") {
		t.Errorf("the access log carries the path or query:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `route="GET /v1/notes/{id}" status=404`) || !strings.Contains(logs.String(), "note_id=n-1") {
		t.Errorf("the access log does not name the route and note:\n%s", logs.String())
	}
	if _, err := Handler(mux, slog.Default(), reg); err == nil {
		t.Error("a second access log registered the same collectors")
	}
	counts := map[string]float64{}
	timed := 0
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "scribegate_http_requests_total":
				counts[labels["code"]+" "+labels["route"]] += m.GetCounter().GetValue()
			case "scribegate_http_request_duration_seconds":
				timed++
			}
		}
	}
	want := map[string]float64{"101 GET /v1/listen": 1, "404 GET /v1/notes/{id}": 1, "404 unmatched": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("requests counted %v, want %v", counts, want)
	}
	if timed != 2 {
		t.Errorf("%d routes timed, want 2 (not the hijacked one)", timed)
	}
}
