package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestTemplatesAndWebUI lists the template set as a recorder sees it, with
// the caller's default, and checks the web UI is mounted without taking
// over unknown /v1 routes.
func TestTemplatesAndWebUI(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		tpls, err := notes.NewTemplates(true, "", notes.Defaults{Clinicians: map[string]string{"dr-b": "progress"}})
		if err != nil {
			t.Fatal(err)
		}
		o.Templates = tpls
	})
	all := e.srv.opts.Templates.All()
	for _, tc := range []struct{ sub, wantDefault string }{{"dr-a", "soap"}, {"dr-b", "progress"}} {
		var body noteapi.TemplateList
		resp := e.do("GET", "/v1/templates", token(t, tc.sub, "c1", review.RoleClinician), nil, &body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tc.sub, resp.StatusCode)
		}
		if body.Default != tc.wantDefault {
			t.Errorf("%s: default %q, want %q", tc.sub, body.Default, tc.wantDefault)
		}
		if len(body.Templates) != len(all) {
			t.Fatalf("%d templates listed of %d", len(body.Templates), len(all))
		}
		for i, tpl := range body.Templates {
			if tpl.ID != all[i].ID || tpl.Name != all[i].Name || len(tpl.Sections) != len(all[i].Sections) {
				t.Errorf("template %d: %+v, want %s %q with %d sections", i, tpl, all[i].ID, all[i].Name, len(all[i].Sections))
			}
		}
	}
	var er errResp
	wantError(t, e.do("GET", "/v1/templates", "", nil, &er), er, http.StatusUnauthorized, apierror.CodeUnauthorized)

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
