package athena_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/athena"
	"github.com/scribegate/scribegate/connectors/athena/athenatest"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/ledger"
)

const noteSystem = "urn:scribegate:test:note"

func settings(srv *athenatest.Server) athena.Settings {
	s := srv.Settings()
	s.IdentifierSystem = noteSystem
	return s
}

func newConnector(t *testing.T, srv *athenatest.Server, mod func(*athena.Settings)) *athena.Connector {
	t.Helper()
	s := settings(srv)
	if mod != nil {
		mod(&s)
	}
	c, err := athena.New(s, athena.Options{Secret: srv.ClientSecret, Name: "athena-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func doc(srv *athenatest.Server, i int) *connectors.Document {
	d := connectortest.Document(nil, i)
	d.NoteID = "note-test-" + strconv.Itoa(i)
	d.Patient = srv.Patients[0]
	d.Author = "71"
	d.Encounter = "31"
	return d
}

// target is the kit's view of the athena stand-in: documents are found by
// the identifier marker in their internal note.
type target struct{ srv *athenatest.Server }

func (tg target) Filed(t testing.TB, ident string) []connectortest.Filed {
	var out []connectortest.Filed
	marker := athena.MarkerPrefix + noteSystem + "|" + ident
	for _, d := range tg.srv.Documents() {
		lines := strings.Split(d.Fields["internalnote"], "\n")
		found, replaces := false, ""
		for _, l := range lines {
			if l == marker {
				found = true
			}
			if r, ok := strings.CutPrefix(l, "Replaces "); ok {
				replaces = r
			}
		}
		if found {
			out = append(out, connectortest.Filed{ID: strconv.Itoa(d.ID), Text: d.Fields["documentdata"], Replaces: replaces})
		}
	}
	return out
}

func (tg target) Inject(f connectortest.Fault, message string, n int) bool {
	b, _ := json.Marshal(map[string]string{"error": message})
	af, ok := athenaFault(http.MethodPost, f, http.StatusBadRequest, string(b))
	if ok {
		tg.srv.Inject(af, n)
	}
	return ok
}

// athenaFault is f as the athena stand-in makes it on requests of method;
// a refusal answers status rejected with body.
func athenaFault(method string, f connectortest.Fault, rejected int, body string) (athenatest.Fault, bool) {
	af := athenatest.Fault{Method: method}
	switch f {
	case connectortest.LostResponse:
		af.Drop = true
	case connectortest.Unavailable:
		af.Status = http.StatusServiceUnavailable
	case connectortest.RateLimited:
		af.Status, af.RetryAfter = http.StatusTooManyRequests, 1
	case connectortest.Rejected:
		af.Status, af.Body = rejected, body
	case connectortest.Stall:
		af.Delay = time.Minute
	default:
		return af, false
	}
	return af, true
}

func (tg target) ExpireTokens() bool { tg.srv.RevokeAll(); return true }

// InjectAt adds the list (OnSearch: GETs; a refusal is a 403) and the
// token endpoint to the faults the kit can make.
func (tg target) InjectAt(where connectortest.Where, f connectortest.Fault, message string, n int) bool {
	switch where {
	case connectortest.OnWrite:
		return tg.Inject(f, message, n)
	case connectortest.OnSearch:
		af, ok := athenaFault(http.MethodGet, f, http.StatusForbidden, "")
		if ok {
			tg.srv.Inject(af, n)
		}
		return ok
	case connectortest.OnToken:
		ff, ok := connectortest.FHIRFault(f, http.StatusUnauthorized, message)
		if ok {
			tg.srv.Token.Inject(ff, n)
		}
		return ok
	}
	return false
}

func (tg target) SetPageSize(n int) bool { tg.srv.PageSize = n; return true }

func (tg target) TokenUse() (issued, requests int) { return tg.srv.Issued(), len(tg.srv.Requests()) }

func TestConformance(t *testing.T) {
	var srvs connectortest.PerTest[*athenatest.Server]
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			srv := athenatest.NewServer(t)
			srvs.Set(t, srv)
			return newConnector(t, srv, nil), target{srv}
		},
		Document: func(t *testing.T, i int) *connectors.Document {
			d := connectortest.Document(t, i)
			d.Patient = srvs.Get(t).Patients[0]
			return d
		},
	})
}

func TestFormFieldsAndGolden(t *testing.T) {
	srv := athenatest.NewServer(t)
	c := newConnector(t, srv, func(s *athena.Settings) { s.TimeZone = "America/New_York" })
	d := doc(srv, 0)
	r, err := c.Push(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	docs := srv.Documents()
	if len(docs) != 1 || r.ExternalID == "" {
		t.Fatalf("filed %d documents, receipt %+v", len(docs), r)
	}
	// A consult the practice's clinician recorded is the visit's own
	// documentation: an encounter document, a progress note, on the
	// visit's encounter.
	f := docs[0].Fields
	if docs[0].Class != "encounterdocument" {
		t.Errorf("filed as %s, want encounterdocument", docs[0].Class)
	}
	want := map[string]string{
		"departmentid":     "1",
		"documentsubclass": "ENCOUNTERDOCUMENT_PROGRESSNOTE",
		"encounterid":      "31",
		// athenahealth takes no Provenance: the note itself declares the
		// AI, after the approved text, dated in the practice's time zone.
		"documentdata": d.Text + "\n\nDrafted with AI assistance by scribegate (rules); reviewed and approved by Dr Test Approver on 1 May 2024.",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("field %s = %q, want %q", k, f[k], v)
		}
	}
	for _, k := range []string{"observationdate", "providerid"} {
		if _, ok := f[k]; ok {
			t.Errorf("an encounter document carries %s", k)
		}
	}

	// A discharge summary is a clinical document, dated and authored.
	ds := doc(srv, 1)
	ds.LOINC, ds.LOINCDisplay = "18842-5", "Discharge summary"
	if _, err := c.Push(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	docs = srv.Documents()
	cf := docs[len(docs)-1]
	for k, v := range map[string]string{
		"documentsubclass": "CLINICALDOCUMENT_ADMISSIONDISCHARGE",
		"observationdate":  "05/01/2024", // 10:00 UTC is 06:00 in New York
		"observationtime":  "06:00",
		"providerid":       "71",
	} {
		if cf.Class != "clinicaldocument" || cf.Fields[k] != v {
			t.Errorf("discharge summary (%s) field %s = %q, want %q", cf.Class, k, cf.Fields[k], v)
		}
	}
	if !strings.Contains(f["internalnote"], athena.MarkerPrefix+noteSystem+"|note-test-0-v1") || !strings.Contains(f["internalnote"], "AI-assisted") {
		t.Errorf("internalnote %q lacks the marker or the AI declaration", f["internalnote"])
	}

	// Golden: the form as sent, and the DocumentReference it maps.
	form, err := c.Form(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "clinicaldocument-form.json", form)
	dr, err := c.DocumentReference(d)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := fhirdoc.Marshal(dr)
	if err != nil {
		t.Fatal(err)
	}
	if err := fhirtest.Schema(t).Validate(raw); err != nil {
		t.Fatalf("DocumentReference is not valid R4: %v", err)
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	golden(t, "documentreference.json", v)
	gb, _ := os.ReadFile(filepath.Join("testdata", "documentreference.json"))
	if err := fhirtest.Schema(t).Validate(gb); err != nil {
		t.Errorf("golden DocumentReference is not valid R4: %v", err)
	}
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.GoldenFile(t, name, append(got, '\n'))
}

func TestSearchFollowsPagesBeforeCreating(t *testing.T) {
	srv := athenatest.NewServer(t)
	srv.PageSize = 1
	c := newConnector(t, srv, nil)
	ctx := context.Background()
	var first connectors.Receipt
	for i := range 3 {
		r, err := c.Push(ctx, doc(srv, i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r
		}
	}
	// A fresh connector (a restart: nothing in memory) finds the first
	// document on the first page, and the third on the third page.
	c2 := newConnector(t, srv, nil)
	for i, d := range []*connectors.Document{doc(srv, 0), doc(srv, 2)} {
		r, err := c2.Push(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Duplicate {
			t.Errorf("push %d after restart: %+v, want duplicate", i, r)
		}
	}
	if r, _ := c2.Push(ctx, doc(srv, 0)); r.ExternalID != first.ExternalID {
		t.Errorf("duplicate id %s, want %s", r.ExternalID, first.ExternalID)
	}
	if n := len(srv.Documents()); n != 3 {
		t.Errorf("%d documents, want 3", n)
	}
}

func TestAthenaErrorsInWords(t *testing.T) {
	srv := athenatest.NewServer(t)
	ctx := context.Background()

	// Unknown department: athena's own error, permanent.
	c := newConnector(t, srv, func(s *athena.Settings) { s.DepartmentID = "999" })
	_, err := c.Push(ctx, doc(srv, 0))
	var pe *connectors.PushError
	if !errors.As(err, &pe) || !pe.Permanent || !strings.Contains(pe.Message, "Invalid department ID.") {
		t.Fatalf("unknown department: %v, want permanent with athena's words", err)
	}

	// Unknown patient: 404, permanent (the search already says so).
	c = newConnector(t, srv, nil)
	d := doc(srv, 1)
	d.Patient = "424242"
	if _, err := c.Push(ctx, d); err == nil || !strings.Contains(err.Error(), "patient is not valid") {
		t.Errorf("unknown patient: %v", err)
	}

	// Non-numeric patient ids are refused before sending.
	d.Patient = "Patient/abc"
	before := len(srv.Requests())
	if _, err := c.Push(ctx, d); !connectors.IsPermanent(err) {
		t.Errorf("non-numeric patient: %v, want permanent", err)
	}
	if len(srv.Requests()) != before {
		t.Error("a request was sent for a non-numeric patient id")
	}

	// The API gateway's over-QPS refusal is transient.
	srv.Inject(athenatest.Fault{Method: http.MethodPost, Status: http.StatusForbidden, Body: "<h1>Developer Over Qps</h1>"}, 1)
	_, err = c.Push(ctx, doc(srv, 2))
	if err == nil || connectors.IsPermanent(err) {
		t.Errorf("over QPS: %v, want transient", err)
	}
}

func TestTokenReuseAndBadSecret(t *testing.T) {
	srv := athenatest.NewServer(t)
	c := newConnector(t, srv, nil)
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.Push(ctx, doc(srv, i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Issued(); n != 1 {
		t.Errorf("%d tokens issued for 3 pushes, want 1", n)
	}
	for _, r := range c.Check(ctx) {
		if !r.OK {
			t.Errorf("check %s: %s", r.Name, r.Detail)
		}
	}

	bad, err := athena.New(settings(srv), athena.Options{Secret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Push(ctx, doc(srv, 9))
	if err == nil || connectors.IsPermanent(err) || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("wrong secret: %v, want a transient credentials failure", err)
	}
	if res := bad.Check(ctx); len(res) == 0 || res[0].OK {
		t.Errorf("Check with a wrong secret passed: %+v", res)
	}
}

func TestSettings(t *testing.T) {
	srv := athenatest.NewServer(t)
	s := settings(srv)
	s.ClientSecretFile = connectortest.SecretFile(t, srv.ClientSecret+"\n")
	decode := func(v any) error { *(v.(*athena.Settings)) = s; return nil }
	conn, err := connectors.Open(context.Background(), "athena", connectors.Config{Name: "athena-test", Decode: decode})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Push(context.Background(), doc(srv, 0)); err != nil {
		t.Fatalf("push with the secret from a file: %v", err)
	}

	t.Setenv("ATHENA_TEST_SECRET", srv.ClientSecret)
	env := settings(srv)
	env.ClientSecretEnv = "ATHENA_TEST_SECRET"
	if _, err := athena.New(env, athena.Options{}); err != nil {
		t.Errorf("secret from the environment: %v", err)
	}

	bad := []func(*athena.Settings){
		func(s *athena.Settings) { s.ClientSecretFile = "" },                              // no secret at all
		func(s *athena.Settings) { s.ClientSecretEnv = "ATHENA_TEST_SECRET" },             // both
		func(s *athena.Settings) { s.PracticeID = "" },                                    //
		func(s *athena.Settings) { s.DepartmentID = "front desk" },                        // not numeric
		func(s *athena.Settings) { s.DocumentSubclass = "ADMIN_BILLING" },                 // not clinical
		func(s *athena.Settings) { s.DocumentSubclass = "CLINICALDOCUMENT_PROGRESSNOTE" }, // not documented
		func(s *athena.Settings) { s.Timeout = -time.Second },                             //
		func(s *athena.Settings) { s.TimeZone = "Mars/Olympus" },                          //
		func(s *athena.Settings) { s.BaseURL = "ftp://x" },                                //
		func(s *athena.Settings) { s.ClientSecretFile = filepath.Join(t.TempDir(), "none") },
	}
	for i, mod := range bad {
		bs := s
		mod(&bs)
		if _, err := athena.New(bs, athena.Options{}); err == nil {
			t.Errorf("bad settings %d accepted", i)
		}
	}
	if got := athena.PracticeContext("195900"); got != "Organization/a-1.Practice-195900" {
		t.Errorf("PracticeContext = %q", got)
	}
}

// TestNeverCreatesOnAGuess: after a lost reply, the look for the earlier
// push must prove absence before anything is created again.
func TestNeverCreatesOnAGuess(t *testing.T) {
	ctx := context.Background()
	t.Run("list cut at the page limit", func(t *testing.T) {
		srv := athenatest.NewServer(t)
		srv.PageSize = 1
		c := newConnector(t, srv, nil)
		for i := range 51 { // 51 earlier documents: 51 pages of one
			if _, err := c.Push(ctx, doc(srv, 100+i)); err != nil {
				t.Fatal(err)
			}
		}
		before := len(srv.Documents())
		l := ledger.NewMemory()
		c2, err := athena.New(settings(srv), athena.Options{Secret: srv.ClientSecret, Ledger: l})
		if err != nil {
			t.Fatal(err)
		}
		d := doc(srv, 0)
		// A lost reply: the ledger knows an attempt was made.
		l.Put(ctx, connectors.Identifier(d.NoteID, d.Version), ledger.Entry{Attempts: 1})
		_, err = c2.Push(ctx, d)
		if err == nil || connectors.IsPermanent(err) {
			t.Errorf("push after a capped list = %v, want a transient failure", err)
		}
		if n := len(srv.Documents()); n != before {
			t.Errorf("%d documents created after a capped list", n-before)
		}
	})
	t.Run("unknown patient is permanent", func(t *testing.T) {
		srv := athenatest.NewServer(t)
		c := newConnector(t, srv, nil)
		d := doc(srv, 0)
		d.Patient = "424242"
		_, err := c.Push(ctx, d)
		if !connectors.IsPermanent(err) || !strings.Contains(err.Error(), "patient is not valid") {
			t.Errorf("unknown patient: %v, want permanent with athena's words", err)
		}
		if got := len(srv.Requests()); got != 1 {
			t.Errorf("%d requests, want the one list", got)
		}
	})
	t.Run("durable ledger never re-sends", func(t *testing.T) {
		srv := athenatest.NewServer(t)
		path := filepath.Join(t.TempDir(), "ledger.json")
		c := newConnector(t, srv, func(s *athena.Settings) { s.LedgerFile = path })
		d := doc(srv, 0)
		if _, err := c.Push(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got := srv.Requests(); len(got) != 1 || !strings.HasPrefix(got[0], "POST") {
			t.Errorf("first push with a durable ledger: %v, want one create and no list", got)
		}
		c2 := newConnector(t, srv, func(s *athena.Settings) { s.LedgerFile = path })
		r, err := c2.Push(ctx, d)
		if err != nil || !r.Duplicate || len(srv.Documents()) != 1 || len(srv.Requests()) != 1 {
			t.Errorf("after a restart: %+v %v, %d documents, %d requests", r, err, len(srv.Documents()), len(srv.Requests()))
		}
	})
}
