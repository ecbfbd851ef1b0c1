package gateway

import (
	"encoding/csv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/rolloutapi/rolloutapitest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/rollout"
)

// TestRolloutEndpoint: the figures are the caller's clinic's, for its
// admins and reviewers only, as JSON or CSV; bad parameters are refused
// with stable codes.
func TestRolloutEndpoint(t *testing.T) {
	h, visits := rolloutapitest.Seeded(t, 7, 30)
	end := h.Now()
	perClinic := map[string]int{}
	clinicians := map[string]map[string]bool{}
	for _, v := range visits {
		perClinic[v.Clinic]++
		if clinicians[v.Clinic] == nil {
			clinicians[v.Clinic] = map[string]bool{}
		}
		clinicians[v.Clinic][v.Clinician] = true
	}
	e := newEnv(t, func(o *Options) { o.Rollout = h })

	for _, tc := range []struct {
		clinic string
		role   review.Role
	}{{"c1", review.RoleReviewer}, {"c1", review.RoleAdmin}, {"c2", review.RoleReviewer}} {
		var rep rollout.Report
		resp := e.do("GET", "/v1/metrics/rollout?group_by=clinician&since=2026-03-02", token(t, "u-"+string(tc.role), tc.clinic, tc.role), nil, &rep)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d", tc.clinic, tc.role, resp.StatusCode)
		}
		if rep.Clinic != tc.clinic || rep.Total.Visits != perClinic[tc.clinic] || !rep.Until.Equal(end) {
			t.Errorf("%s %s: clinic %q, %d visits, until %s; want %q, %d, %s", tc.clinic, tc.role, rep.Clinic, rep.Total.Visits, rep.Until, tc.clinic, perClinic[tc.clinic], end)
		}
		for _, r := range rep.Rows {
			if !clinicians[tc.clinic][r.Key] {
				t.Errorf("%s sees clinician %q of another clinic", tc.clinic, r.Key)
			}
		}
		if len(rep.Rows) != len(clinicians[tc.clinic]) {
			t.Errorf("%s: %d clinician rows, want %d", tc.clinic, len(rep.Rows), len(clinicians[tc.clinic]))
		}
	}
	// A clinic may not ask for another's: there is no parameter for it.
	var eb errResp
	resp := e.do("GET", "/v1/metrics/rollout?clinic=c1", token(t, "rev-9", "c2", review.RoleReviewer), nil, &eb)
	wantError(t, resp, eb, http.StatusBadRequest, apierror.CodeUnsupportedParameter)
	for _, tc := range []struct {
		tok, query string
		status     int
		code       string
	}{
		{"", "", http.StatusUnauthorized, apierror.CodeUnauthorized},
		{token(t, "dr-1", "c1", review.RoleClinician), "", http.StatusForbidden, apierror.CodeForbidden},
		{token(t, "rev-1", "c1", review.RoleReviewer), "?since=yesterday", http.StatusBadRequest, apierror.CodeInvalidQuery},
		{token(t, "rev-1", "c1", review.RoleReviewer), "?since=2026-04-01&until=2026-03-01", http.StatusBadRequest, apierror.CodeInvalidQuery},
		{token(t, "rev-1", "c1", review.RoleReviewer), "?since=2020-01-01", http.StatusBadRequest, apierror.CodeInvalidQuery},
		{token(t, "rev-1", "c1", review.RoleReviewer), "?group_by=patient", http.StatusBadRequest, apierror.CodeInvalidQuery},
		{token(t, "rev-1", "c1", review.RoleReviewer), "?format=xml", http.StatusBadRequest, apierror.CodeInvalidQuery},
	} {
		var eb errResp
		resp := e.do("GET", "/v1/metrics/rollout"+tc.query, tc.tok, nil, &eb)
		wantError(t, resp, eb, tc.status, tc.code)
	}

	// CSV, asked for by format or by Accept.
	tok := token(t, "rev-1", "c1", review.RoleReviewer)
	for _, hdr := range [][2]string{{"format=csv&group_by=template", ""}, {"group_by=template", "text/csv"}} {
		req, _ := http.NewRequest("GET", e.hs.URL+"/v1/metrics/rollout?since=2026-03-02&"+hdr[0], nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if hdr[1] != "" {
			req.Header.Set("Accept", hdr[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("%v: %d %s", hdr, resp.StatusCode, ct)
		}
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		// The header, the clinic, three groups (wave-1, wave-2,
		// unassigned) and the two templates.
		if len(recs) != 1+1+3+2 || recs[1][0] != "clinic" || recs[1][1] != "c1" || recs[0][3] != "visits" || recs[6][0] != "template" {
			t.Fatalf("%v: CSV\n%s", hdr, b)
		}
		if n, _ := strconv.Atoi(recs[1][3]); n != perClinic["c1"] {
			t.Errorf("%v: CSV visits %d, want %d", hdr, n, perClinic["c1"])
		}
	}
}
