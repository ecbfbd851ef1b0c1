package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriterRemembersTheFirstStatus: the status is the first one written,
// 200 for a body written alone, and 0 while nothing is; each is passed on.
func TestWriterRemembersTheFirstStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"header", func(w http.ResponseWriter) { w.WriteHeader(http.StatusConflict) }, http.StatusConflict},
		{"body alone", func(w http.ResponseWriter) { w.Write([]byte("x")) }, http.StatusOK},
		{"header then body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("x"))
		}, http.StatusCreated},
		{"second header", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
		}, http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		w := &Writer{ResponseWriter: rec}
		tc.serve(w)
		if w.Status != tc.want {
			t.Errorf("%s: Status %d, want %d", tc.name, w.Status, tc.want)
		}
		if tc.want != 0 && rec.Code != tc.want {
			t.Errorf("%s: passed on %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}

// TestWriterHijack: a hijacked connection (a WebSocket upgrade) is 101,
// and a writer that cannot be hijacked says so.
func TestWriterHijack(t *testing.T) {
	w := &Writer{ResponseWriter: httptest.NewRecorder()}
	if _, _, err := w.Hijack(); err == nil {
		t.Error("Hijack of a writer that cannot be hijacked succeeded")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &Writer{ResponseWriter: rw}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack through the Writer: %v", err)
			return
		}
		conn.Close()
		if w.Status != http.StatusSwitchingProtocols {
			t.Errorf("Status after Hijack %d, want 101", w.Status)
		}
	}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL); err == nil {
		resp.Body.Close()
	}
}
