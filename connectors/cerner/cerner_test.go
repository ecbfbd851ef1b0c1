package cerner_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	_ "github.com/scribegate/scribegate/connectors/cerner" // registers "cerner", as cmd does
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Step 6: test against a stand-in speaking the vendor's real protocol: a
// token endpoint that wants HTTP Basic client authentication and the
// client_credentials grant, and a FHIR server (fhirtest) that wants the
// bearer tokens it issued.
type millennium struct {
	fhir   *fhirtest.Server
	url    string
	tokens standin.Tokens
}

const tenant = "ec2458f2-1e24-41c8-b71b-0e701af7583d"

func newMillennium(t *testing.T) *millennium {
	m := &millennium{fhir: fhirtest.NewServer(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tenants/"+tenant+"/protocols/oauth2/profiles/smart-v1/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		r.ParseForm()
		if !ok || id != "system-account" || secret != "test-only-secret" || r.PostForm.Get("grant_type") != "client_credentials" ||
			!strings.Contains(r.PostForm.Get("scope"), "system/DocumentReference.write") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		tok := m.tokens.Issue(time.Time{}, -1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 570})
	})
	mux.Handle("/r4/"+tenant+"/", http.StripPrefix("/r4/"+tenant, m.fhir))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	m.url = ts.URL
	m.fhir.URL = ts.URL + "/r4/" + tenant
	m.fhir.SetAuth(func(r *http.Request) error { return m.tokens.Check(r, time.Now()) })
	return m
}

// open goes through the registry with YAML settings, exactly as the
// gateway does.
func (m *millennium) open(t *testing.T) connectors.Connector {
	secret := connectortest.SecretFile(t, "test-only-secret")
	settings := "base_url: " + m.url + "/r4/" + tenant + "\n" +
		"token_url: " + m.url + "/tenants/" + tenant + "/protocols/oauth2/profiles/smart-v1/token\n" +
		"client_id: system-account\nclient_secret_file: " + secret + "\n"
	c, err := connectors.Open(t.Context(), "cerner", connectortest.Config(t, "cerner-test", settings))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Step 7: run the conformance kit.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			m := newMillennium(t)
			return m.open(t), &connectortest.FHIRTarget{Server: m.fhir, Expire: func() bool { m.tokens.RevokeAll(); return true }}
		},
	})
}

func TestCheck(t *testing.T) {
	c := newMillennium(t).open(t)
	res := c.(connectors.Checker).Check(context.Background())
	if len(res) != 2 || !res[0].OK || !res[1].OK {
		t.Errorf("Check = %+v, want token and capabilities ok", res)
	}
}

// TestGoldenDocumentReference files one fixed note and keeps exactly the
// body Millennium received. Millennium takes no Provenance, so the note
// declares the AI in its text and carries the AIAST label.
func TestGoldenDocumentReference(t *testing.T) {
	m := newMillennium(t)
	c := m.open(t)
	d := connectortest.Document(t, 0)
	d.NoteID = "note-golden"
	d.Drafter = "rules"
	d.Text = "Synthetic consultation.\n\nPlan: review in two weeks."
	if _, err := c.Push(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	searches := 0
	for _, r := range m.fhir.Requests() {
		if r.Method == http.MethodGet && r.Path == "DocumentReference" {
			searches++
			if r.Query.Get("patient") != d.Patient || r.Query.Get("encounter") != d.Encounter {
				t.Errorf("search %v, want the note's patient and encounter", r.Query)
			}
		}
	}
	if searches != 1 {
		t.Errorf("%d searches before the create, want 1", searches)
	}
	sent := connectortest.Sent(t, m.fhir, "DocumentReference")
	f := connectortest.DecodeDocumentReference(t, sent)
	if note, decl, ok := fhirdoc.SplitDeclaration(f.Text); !ok || note != d.Text || !strings.Contains(decl, "approved by "+d.ApproverName) {
		t.Errorf("sent text %q: want the approved text and an AI declaration naming the approver", f.Text)
	}
	if !strings.Contains(string(sent), `"code":"AIAST"`) {
		t.Error("sent DocumentReference lacks the AIAST security label")
	}
	connectortest.Golden(t, "documentreference.golden.json", sent)
}
