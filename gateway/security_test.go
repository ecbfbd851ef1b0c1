package gateway

import (
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
