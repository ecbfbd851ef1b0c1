package athena_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/athena"
	"github.com/scribegate/scribegate/connectors/athena/athenatest"
	"github.com/scribegate/scribegate/connectors/connectortest"
)

// seedPatients registers the practice's patients for the lookup tests:
// two Thompsons in the connector's department and one in another.
func seedPatients(srv *athenatest.Server) (joan, mark, other string) {
	srv.Departments = append(srv.Departments, "2")
	joan = srv.AddPatient(athenatest.Patient{FirstName: "Joan", MiddleName: "Ann", LastName: "Thompson", DOB: "07/30/1961", Sex: "F"})
	mark = srv.AddPatient(athenatest.Patient{FirstName: "Mark", LastName: "Thompson", DOB: "01/02/1990", Sex: "M"})
	other = srv.AddPatient(athenatest.Patient{FirstName: "Joan", LastName: "Thompson", DOB: "07/30/1961", Sex: "F", DepartmentID: "2"})
	return joan, mark, other
}

func TestSearchPatients(t *testing.T) {
	srv := athenatest.NewServer(t)
	joan, mark, other := seedPatients(srv)
	c := newConnector(t, srv, nil)
	show := func(ms []connectors.PatientMatch) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID+":"+m.Name+":"+m.BirthDate+":"+m.Sex)
		}
		return fmt.Sprint(out)
	}
	j := joan + ":Joan Ann Thompson:1961-07-30:female"
	m := mark + ":Mark Thompson:1990-01-02:male"
	for _, tc := range []struct {
		q    connectors.PatientQuery
		want string
	}{
		{connectors.PatientQuery{Name: "Thompson"}, "[" + j + " " + m + "]"},
		{connectors.PatientQuery{Name: "joan"}, "[" + j + "]"},
		{connectors.PatientQuery{Name: "Joan Thompson"}, "[" + j + "]"},
		{connectors.PatientQuery{Name: "Thompson Joan"}, "[" + j + "]"},
		// A middle word must begin one of the patient's names.
		{connectors.PatientQuery{Name: "Joan A Thompson"}, "[" + j + "]"},
		{connectors.PatientQuery{Name: "Joan B Thompson"}, "[]"},
		{connectors.PatientQuery{Name: "Thompson", BirthDate: "1990-01-02"}, "[" + m + "]"},
		{connectors.PatientQuery{BirthDate: "1961-07-30"}, "[" + j + "]"},
		{connectors.PatientQuery{Identifier: mark}, "[" + m + "]"},
		{connectors.PatientQuery{Identifier: mark, BirthDate: "1961-07-30"}, "[]"},
		// Registered in another department: outside the connector's.
		{connectors.PatientQuery{Name: "Joan", BirthDate: "1961-07-30"}, "[" + j + "]"},
		{connectors.PatientQuery{Name: "Smith"}, "[]"},
		{connectors.PatientQuery{Identifier: "999999"}, "[]"},
	} {
		got, err := c.SearchPatients(context.Background(), tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		if got == nil {
			t.Errorf("%+v: nil, want an empty list", tc.q)
		}
		if show(got) != tc.want {
			t.Errorf("%+v: %s, want %s", tc.q, show(got), tc.want)
		}
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r, "/patients/"+other) {
			t.Errorf("read the other department's patient: %s", r)
		}
	}
	before := len(srv.Requests())
	for _, q := range []connectors.PatientQuery{{}, {BirthDate: "30/07/1961"}} {
		if _, err := c.SearchPatients(context.Background(), q); err == nil {
			t.Errorf("%+v was searched", q)
		}
	}
	// Not an athena patient id: the clinician is told why, not shown no
	// match.
	for ident, problem := range map[string]string{
		"ihi:8003608166690503": "not by another system's identifier",
		"MRN12":                "digits only",
		"2123456701":           "looks like a Medicare number",
	} {
		_, err := c.SearchPatients(context.Background(), connectors.PatientQuery{Identifier: ident})
		connectortest.CheckQueryError(t, err, problem)
	}
	if len(srv.Requests()) != before {
		t.Error("a query the connector refuses reached athena")
	}
}

// TestSearchPatientsEHRFailures: athena's refusals, outages and silence
// are errors, never an empty answer that reads as "no such patient"; a
// refusal is a connectors.SearchRefusedError with athena's reason (left
// out when it spells a value of the query), an outage is not.
func TestSearchPatientsEHRFailures(t *testing.T) {
	srv := athenatest.NewServer(t)
	seedPatients(srv)
	c := newConnector(t, srv, func(s *athena.Settings) { s.Timeout = 300 * time.Millisecond })
	q := connectors.PatientQuery{Name: "Thompson"}
	for _, tc := range []struct {
		name  string
		fault athenatest.Fault
		want  string
		// refused is the SearchRefusedError's status and reason; 0 for
		// an outage.
		refused int
		reason  string
	}{
		{"unavailable", athenatest.Fault{Status: http.StatusServiceUnavailable}, "Injected failure.", 0, ""},
		{"refused", athenatest.Fault{Status: http.StatusForbidden, Body: `{"error":"You do not have access to this practice."}`}, "You do not have access",
			http.StatusForbidden, "athenahealth: You do not have access to this practice."},
		{"refused naming the patient", athenatest.Fault{Status: http.StatusForbidden, Body: `{"error":"No access to THOMPSON, JOAN."}`}, "No access",
			http.StatusForbidden, ""},
		{"over QPS", athenatest.Fault{Status: http.StatusForbidden, Body: `{"error":"Over QPS"}`}, "Over QPS", 0, ""},
		{"query rejected", athenatest.Fault{Status: http.StatusBadRequest, Body: `{"error":"Invalid departmentid."}`}, "Invalid departmentid",
			http.StatusBadRequest, "athenahealth: Invalid departmentid."},
		{"stalled", athenatest.Fault{Delay: time.Minute}, "did not answer the patient search", 0, ""},
		{"dropped", athenatest.Fault{Drop: true}, "did not answer the patient search", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Inject(tc.fault, 1)
			got, err := c.SearchPatients(context.Background(), q)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error saying %q", got, err, tc.want)
			}
			connectortest.CheckRefusal(t, err, tc.refused, tc.reason)
		})
	}
	// The caller's deadline ends a search athena holds.
	srv.Inject(athenatest.Fault{Delay: time.Minute}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := newConnector(t, srv, nil).SearchPatients(ctx, q); err == nil {
		t.Error("a search athena never answered returned no error")
	}
	// An expired token is replaced, and the search goes through.
	srv.RevokeAll()
	if got, err := c.SearchPatients(context.Background(), q); err != nil || len(got) != 2 {
		t.Errorf("after the token expired: %v, %v", got, err)
	}
}

// TestSearchedPatientIsFiled: the patient the lookup found is the chart
// the note is filed in.
func TestSearchedPatientIsFiled(t *testing.T) {
	srv := athenatest.NewServer(t)
	_, mark, _ := seedPatients(srv)
	c := newConnector(t, srv, nil)
	found, err := c.SearchPatients(context.Background(), connectors.PatientQuery{Name: "Mark Thompson"})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v, %v", found, err)
	}
	d := doc(srv, 0)
	connectortest.UseMatch(t, c, d, found[0])
	if _, err := c.Push(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	docs := srv.Documents()
	if len(docs) != 1 || docs[0].PatientID != mark {
		t.Errorf("filed %+v, want one document in patient %s's chart", docs, mark)
	}
}

// TestStandInPatientSearchIsStrict: the stand-in refuses what athena
// refuses, with athena's error shape.
func TestStandInPatientSearchIsStrict(t *testing.T) {
	srv := athenatest.NewServer(t)
	seedPatients(srv)
	tok := token(t, srv)
	for _, tc := range []struct {
		query  string
		status int
		want   string
	}{
		{"", 400, "At least one of the following fields is required."},
		{"limit=5", 400, "At least one of the following fields is required."},
		{"lastname=Thompson&dob=1961-07-30", 400, "Invalid DOB; expected mm/dd/yyyy."},
		{"lastname=Thompson&departmentid=9", 400, "Invalid department ID."},
		{"surname=Thompson", 400, "Invalid parameter: surname."},
		{"lastname=Thompson&limit=9999", 400, "Invalid limit; at most 5000."},
		{"lastname=thompson&departmentid=1", 200, `"totalcount":2`},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/"+srv.PracticeID+"/patients?"+tc.query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("?%s: %d %s, want %d %s", tc.query, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}

// token gets a token from the stand-in as a client would.
func token(t *testing.T, srv *athenatest.Server) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/v1/token", strings.NewReader("grant_type=client_credentials&scope=athena%2Fservice%2FAthenanet.MDP.*"))
	req.SetBasicAuth(srv.ClientID, srv.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

// searchTarget is the kit's view of the athena stand-in's patients.
type searchTarget struct{ srv *athenatest.Server }

func (st searchTarget) AddPatient(t testing.TB, p connectortest.Patient) (string, string) {
	dob, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		t.Fatal(err)
	}
	id := st.srv.AddPatient(athenatest.Patient{FirstName: p.Given, LastName: p.Family, DOB: dob.Format("01/02/2006"),
		Sex: map[string]string{"female": "F", "male": "M"}[p.Sex]})
	return id, id
}

func (st searchTarget) InjectSearch(f connectortest.Fault, n int) bool {
	af, ok := athenaFault(http.MethodGet, f, http.StatusForbidden, `{"error":"You do not have access to this practice."}`)
	if ok {
		st.srv.Inject(af, n)
	}
	return ok
}

func TestSearchConformance(t *testing.T) {
	connectortest.RunSearch(t, connectortest.SearchHarness{
		Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
			srv := athenatest.NewServer(t)
			return newConnector(t, srv, nil), searchTarget{srv}
		},
	})
}
