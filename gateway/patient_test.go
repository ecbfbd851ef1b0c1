package gateway

import (
	"net/url"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
)

func TestListenDemographics(t *testing.T) {
	e := newEnv(t, nil)
	q := url.Values{"patient": {"p-1"}, "patient_name": {"  Jane   Citizen "}, "patient_birth_date": {"1980-02-29"}, "patient_sex": {"female"}}
	id, _ := e.session(q.Encode())
	var n review.Note
	if r := e.do("GET", "/v1/notes/"+id, token(t, "dr-a", "c1", review.RoleClinician), nil, &n); r.StatusCode != 200 {
		t.Fatalf("GET note: %d", r.StatusCode)
	}
	if n.PatientName != "Jane Citizen" || n.PatientBirthDate != "1980-02-29" || n.PatientSex != "female" {
		t.Errorf("note demographics = %q, %q, %q; want Jane Citizen, 1980-02-29, female", n.PatientName, n.PatientBirthDate, n.PatientSex)
	}

	// Without them the note has none.
	id, _ = e.session("patient=p-2")
	n = review.Note{}
	e.do("GET", "/v1/notes/"+id, token(t, "dr-a", "c1", review.RoleClinician), nil, &n)
	if n.PatientName != "" || n.PatientBirthDate != "" || n.PatientSex != "" {
		t.Errorf("demographics invented: %+v", n)
	}
}

func TestListenRefusesBadDemographics(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct{ name, param, value string }{
		{"blank name", "patient_name", "   "},
		{"name too long", "patient_name", strings.Repeat("a", maxPatientNameBytes+1)},
		{"name with a control character", "patient_name", "Jane\x00Citizen"},
		{"name not UTF-8", "patient_name", "Jane \xff"},
		{"date in another format", "patient_birth_date", "29/02/1980"},
		{"date without zero padding", "patient_birth_date", "1980-2-29"},
		{"no such day", "patient_birth_date", "1981-02-29"},
		{"date with a time", "patient_birth_date", "1980-02-29T10:00:00Z"},
		{"born in the future", "patient_birth_date", "2999-01-01"},
		{"born too long ago", "patient_birth_date", "1066-10-14"},
		{"sex as a letter", "patient_sex", "F"},
		{"sex capitalised", "patient_sex", "Female"},
		{"sex not a gender code", "patient_sex", "yes"},
		{"given twice", "patient_sex", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"patient": {"p"}, tc.param: {tc.value}}
			if tc.name == "given twice" {
				q[tc.param] = []string{"male", "female"}
			}
			var body errResp
			resp := e.dialRefused(t, q.Encode(), nil, &body)
			wantError(t, resp, body, 400, apierror.CodeInvalidParameter)
			if body.Error.Param != tc.param {
				t.Errorf("param = %q, want %q", body.Error.Param, tc.param)
			}
			if tc.param == "patient_name" && strings.Contains(body.Error.Message, "Jane") {
				t.Errorf("the error quotes the name: %q", body.Error.Message)
			}
		})
	}
}
