package gateway

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review"
)

// TestPHIIsNeverCached: every /v1 answer (a note, a list, an audit trail,
// an error) tells browsers and proxies to keep nothing.
func TestPHIIsNeverCached(t *testing.T) {
	e := newEnv(t, nil)
	id, _ := e.session("patient=p-1")
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	for _, path := range []string{"/v1/notes/" + id, "/v1/notes", "/v1/notes/" + id + "/audit", "/v1/notes/missing", "/v1/templates"} {
		r := e.do("GET", path, clin, nil, nil)
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s (%d): Cache-Control %q", path, r.StatusCode, got)
		}
	}
}

// TestForgedCursor: a cursor the API did not make gets a stable error
// naming the parameter, with nothing of the decoder's own text.
func TestForgedCursor(t *testing.T) {
	e := newEnv(t, nil)
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	for _, c := range []string{"!!!!", base64.RawURLEncoding.EncodeToString([]byte("not-a-time:x")), base64.RawURLEncoding.EncodeToString([]byte("2026-01-01T00:00:00Z"))} {
		var body errResp
		r := e.do("GET", "/v1/notes?cursor="+c, clin, nil, &body)
		wantError(t, r, body, 400, CodeInvalidQuery)
		if body.Error.Param != "cursor" || strings.Contains(body.Error.Message, "illegal") || strings.Contains(body.Error.Message, "parsing") || strings.Contains(body.Error.Message, "(") {
			t.Errorf("cursor %q: %+v", c, body.Error)
		}
	}
}
