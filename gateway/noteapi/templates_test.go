package noteapi

import (
	"net/http"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestTemplates lists the template set as a recorder sees it, with the
// caller's default.
func TestTemplates(t *testing.T) {
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{Clinicians: map[string]string{"dr-b": "progress"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Templates = tpls })
	all := tpls.All()
	for _, tc := range []struct{ sub, wantDefault string }{{"dr-a", "soap"}, {"dr-b", "progress"}} {
		var body TemplateList
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
	var er apierror.Body
	resttest.WantError(t, e.do("GET", "/v1/templates", "", nil, &er), er, http.StatusUnauthorized, apierror.CodeUnauthorized)
}
