package rolloutapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/scribegate/scribegate/gateway/rolloutapi/rolloutapitest"
	"github.com/scribegate/scribegate/review"
)

// cutWriter is a ResponseWriter whose client goes away after limit bytes
// of body: it records every status written.
type cutWriter struct {
	*httptest.ResponseRecorder
	limit    int
	statuses []int
}

var errGone = errors.New("client went away")

func (w *cutWriter) WriteHeader(code int) {
	w.statuses = append(w.statuses, code)
	w.ResponseRecorder.WriteHeader(code)
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if len(w.statuses) == 0 {
		w.WriteHeader(http.StatusOK)
	}
	room := w.limit - w.Body.Len()
	if room >= len(b) {
		return w.ResponseRecorder.Write(b)
	}
	n, _ := w.ResponseRecorder.Write(b[:max(room, 0)])
	return n, errGone
}

// TestServeCutShort: a response the client stops reading half way has
// one status, the first; Serve returns no error for the gateway to answer
// with a second.
func TestServeCutShort(t *testing.T) {
	h, _ := rolloutapitest.Seeded(t, 3, 10)
	actor := review.Actor{Subject: "rev-1", Clinic: "c1", Role: review.RoleReviewer}
	// serve answers as the gateway does: an error from Serve becomes an
	// error status.
	serve := func(w http.ResponseWriter, r *http.Request) {
		if err := h.Serve(w, r, actor); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/metrics/rollout?group_by=clinician&format="+format, nil)
			whole := httptest.NewRecorder()
			serve(whole, req)
			if whole.Code != http.StatusOK || whole.Body.Len() < 200 {
				t.Fatalf("whole response: %d, %d bytes", whole.Code, whole.Body.Len())
			}
			if cl := whole.Header().Get("Content-Length"); cl != strconv.Itoa(whole.Body.Len()) {
				t.Errorf("Content-Length %q, body %d bytes", cl, whole.Body.Len())
			}
			w := &cutWriter{ResponseRecorder: httptest.NewRecorder(), limit: 100}
			serve(w, req)
			if len(w.statuses) != 1 || w.statuses[0] != http.StatusOK {
				t.Errorf("statuses written %v, want [200] alone", w.statuses)
			}
			if got, want := w.Body.String(), whole.Body.String()[:100]; got != want {
				t.Errorf("cut body %q, want the whole one's first 100 bytes %q", got, want)
			}
		})
	}
}
