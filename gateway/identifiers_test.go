package gateway

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/patientid"
	"github.com/scribegate/scribegate/gateway/patientid/patientidtest"
)

// TestListenRefusesMalformedIDs: patient and encounter ids are stored,
// shown to the reviewer and sent to the EHR as given, so any id the
// connector would have to rewrite, or that reads as a path, a header or
// another text direction, is refused before the upgrade.
func TestListenRefusesMalformedIDs(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.ConnectorFor = func(clinic string) string { return map[string]string{"c2": "athena"}[clinic] }
		o.Connector = func(name string) any {
			if name == "athena" {
				return patientidtest.IHI{}
			}
			return nil
		}
		o.IDPatterns = map[string]patientid.Patterns{"epic-main": {Encounter: regexp.MustCompile(`^V[0-9]{4}/[0-9]{2}$`)}}
	})
	c2 := token(t, "dr-b", "c2", "clinician")
	cases := []struct {
		name, query, tok, param string
	}{
		{"100 KB patient", "patient=" + strings.Repeat("1", 100<<10), "", "patient"},
		{"65 characters", "patient=" + strings.Repeat("a", 65), "", "patient"},
		{"CR LF", "patient=" + url.QueryEscape("p1\r\nX-Injected: 1"), "", "patient"},
		{"NUL", "patient=p%001", "", "patient"},
		{"invalid UTF-8", "patient=p%ff%fe", "", "patient"},
		{"RTL override", "patient=" + url.QueryEscape("p\u202e1"), "", "patient"},
		{"path", "patient=" + url.QueryEscape("123&x/../../Observation/1 %2F"), "", "patient"},
		{"dot dot", "patient=..", "", "patient"},
		{"underscore", "patient=p_1", "", "patient"},
		{"encounter path", "patient=p1&encounter=" + url.QueryEscape("../1"), "", "encounter"},
		{"encounter off pattern", "patient=p1&encounter=E1", "", "encounter"},
		{"connector's own rule", "patient=12345", c2, "patient"},
		{"RTL under connector's rule", "patient=" + url.QueryEscape("8003608166690503\u202e"), c2, "patient"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h map[string][]string
			if tc.tok != "" {
				h = map[string][]string{"Authorization": {"Bearer " + tc.tok}}
			}
			var body errResp
			resp := e.dialRefused(t, tc.query, h, &body)
			wantError(t, resp, body, 400, apierror.CodeInvalidParameter)
			if body.Error.Param != tc.param {
				t.Errorf("param %q, want %q", body.Error.Param, tc.param)
			}
			if strings.Contains(body.Error.Message, "Observation") || strings.Contains(body.Error.Message, "Injected") {
				t.Errorf("the error echoes the id: %s", body.Error.Message)
			}
		})
	}
	for _, ok := range []struct{ query, tok string }{
		{"patient=pat-1.2&encounter=V2024/07", ""},
		{"patient=8003608166690503", c2},
	} {
		var h map[string][]string
		if ok.tok != "" {
			h = map[string][]string{"Authorization": {"Bearer " + ok.tok}}
		}
		c, _, err := e.dial(ok.query, h)
		if err != nil {
			t.Errorf("%s: %v", ok.query, err)
			continue
		}
		c.Close()
	}
}
