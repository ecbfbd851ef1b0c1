package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
)

// TestWebUIMounted checks the web UI is mounted without taking over
// unknown /v1 routes.
func TestWebUIMounted(t *testing.T) {
	e := newEnv(t, nil)
	var er errResp
	for _, tc := range []struct {
		path, wantType string
		status         int
	}{
		{"/", "text/html", http.StatusOK},
		{"/app/app.js", "text/javascript", http.StatusOK},
		{"/app/pcm-worklet.js", "text/javascript", http.StatusOK},
		{"/app/style.css", "text/css", http.StatusOK},
		{"/app/", "", http.StatusNotFound},
		{"/app/nothing.js", "", http.StatusNotFound},
	} {
		resp := e.do("GET", tc.path, "", nil, nil)
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.wantType)
		}
		if tc.status == http.StatusOK && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no Content-Security-Policy", tc.path)
		}
	}
	wantError(t, e.do("GET", "/v1/nothing", "", nil, &er), er, http.StatusNotFound, apierror.CodeNotFound)
	wantError(t, e.do("GET", "/index.html/x", "", nil, &er), er, http.StatusNotFound, apierror.CodeNotFound)
}
