package fhir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhir"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"gopkg.in/yaml.v3"
)

// tokens is a stand-in authorization server: one valid token at a time,
// written where the connector's token_file points.
type tokens struct {
	mu    sync.Mutex
	n     int
	valid string
	file  string
}

func (tk *tokens) rotate() bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.n++
	tk.valid = fmt.Sprintf("token-%d", tk.n)
	return os.WriteFile(tk.file, []byte(tk.valid+"\n"), 0o600) == nil
}

func (tk *tokens) check(r *http.Request) error {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+tk.valid {
		return errors.New("access token expired or invalid")
	}
	return nil
}

// config is the gateway's Config for settings given as YAML key/values.
func config(t *testing.T, settings map[string]any) connectors.Config {
	b, err := yaml.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	return connectortest.Config(t, "fhir-test", string(b))
}

func setup(t *testing.T) (connectors.Connector, connectortest.Target) {
	srv := fhirtest.NewServer(t)
	tk := &tokens{file: filepath.Join(t.TempDir(), "token")}
	if !tk.rotate() {
		t.Fatal("cannot write token file")
	}
	srv.SetAuth(tk.check)
	c, err := connectors.Open(t.Context(), fhir.Kind, config(t, map[string]any{"base_url": srv.URL, "token_file": tk.file, "timeout": "5s"}))
	if err != nil {
		t.Fatal(err)
	}
	return c, &connectortest.FHIRTarget{Server: srv, Expire: tk.rotate}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Setup: setup})
}

func TestPushWritesProvenanceOnce(t *testing.T) {
	srv := fhirtest.NewServer(t)
	c, err := fhir.New(fhir.Settings{BaseURL: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := connectortest.Document(t, 0)
	// The Provenance POST's reply is lost once: the retry must not file a
	// second DocumentReference or a second Provenance.
	srv.Inject(fhirtest.Fault{Method: http.MethodPost, ResourceType: "Provenance", Drop: true}, 1)
	if _, err := c.Push(t.Context(), d); err == nil || connectors.IsPermanent(err) {
		t.Fatalf("first Push = %v, want a transient failure", err)
	}
	rc, err := c.Push(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !rc.Duplicate || !strings.HasPrefix(rc.ExternalID, "DocumentReference/") {
		t.Errorf("receipt %+v", rc)
	}
	if n, p := len(srv.Resources("DocumentReference")), len(srv.Resources("Provenance")); n != 1 || p != 1 {
		t.Fatalf("%d DocumentReferences and %d Provenances, want 1 and 1", n, p)
	}
	var prov struct {
		Target []struct{ Reference string }
		Agent  []struct {
			Type struct{ Coding []struct{ Code string } }
			Who  struct{ Reference, Display string }
		}
	}
	if err := json.Unmarshal(srv.Resources("Provenance")[0], &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Target) != 1 || prov.Target[0].Reference != rc.ExternalID {
		t.Errorf("provenance target %+v, want %s", prov.Target, rc.ExternalID)
	}
	if len(prov.Agent) < 2 || prov.Agent[1].Type.Coding[0].Code != "verifier" || prov.Agent[1].Who.Reference != "Practitioner/"+d.Approver {
		t.Errorf("provenance agents %+v: want the approver as verifier", prov.Agent)
	}
}

func TestSettings(t *testing.T) {
	t.Setenv("SCRIBEGATE_TEST_FHIR_TOKEN", "tok")
	tests := []struct {
		name     string
		settings map[string]any
		wantErr  string
	}{
		{"ok", map[string]any{"base_url": "https://fhir.example/r4", "token_env": "SCRIBEGATE_TEST_FHIR_TOKEN", "doc_status": "preliminary", "html": true}, ""},
		{"missing base_url", map[string]any{}, "base_url"},
		{"misspelt key", map[string]any{"base_url": "https://x", "tokn": "x"}, "tokn"},
		{"two tokens", map[string]any{"base_url": "https://x", "token": "a", "token_env": "SCRIBEGATE_TEST_FHIR_TOKEN"}, "at most one"},
		{"empty env", map[string]any{"base_url": "https://x", "token_env": "SCRIBEGATE_TEST_UNSET"}, "empty"},
		{"missing token file", map[string]any{"base_url": "https://x", "token_file": "/nonexistent/token"}, "token_file"},
		{"bad timeout", map[string]any{"base_url": "https://x", "timeout": "soon"}, "timeout"},
		{"bad doc_status", map[string]any{"base_url": "https://x", "doc_status": "signed"}, "doc_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connectors.Open(t.Context(), fhir.Kind, config(t, tt.settings))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Open = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestCreateWithoutLocationFindsDocument(t *testing.T) {
	// A server that accepts but says nothing of where: the connector finds
	// the document by its identifier.
	srv := fhirtest.NewServer(t)
	ts := newServer(t, withoutLocation(srv))
	c, err := fhir.New(fhir.Settings{BaseURL: ts}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Push(context.Background(), connectortest.Document(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	var stored struct{ ID string }
	if docs := srv.Resources("DocumentReference"); len(docs) != 1 || json.Unmarshal(docs[0], &stored) != nil || rc.ExternalID != "DocumentReference/"+stored.ID {
		t.Fatalf("receipt %+v, stored %d documents", rc, len(docs))
	}
}

func TestCheck(t *testing.T) {
	srv := fhirtest.NewServer(t)
	c, err := fhir.New(fhir.Settings{BaseURL: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var _ connectors.Checker = c
	for _, r := range c.Check(t.Context()) {
		if !r.OK {
			t.Errorf("check %q failed: %s", r.Name, r.Detail)
		}
	}
	srv.SetAuth(func(*http.Request) error { return errors.New("bad credentials") })
	res := c.Check(t.Context())
	if len(res) != 1 || res[0].OK || res[0].Detail != "bad credentials" {
		t.Errorf("Check with refused credentials = %+v", res)
	}
	if n := len(srv.Resources("DocumentReference")); n != 0 {
		t.Errorf("Check filed %d documents", n)
	}
}

// TestGolden keeps exactly the DocumentReference and the Provenance the
// connector sends for a fixed note.
func TestGolden(t *testing.T) {
	c, target := setup(t)
	srv := target.(*connectortest.FHIRTarget).Server
	d := connectortest.Document(t, 0)
	d.NoteID = "note-golden"
	d.Drafter = "rules"
	d.Text = "Synthetic consultation.\n\nPlan: review in two weeks."
	if _, err := c.Push(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	connectortest.Golden(t, "documentreference.golden.json", connectortest.Sent(t, srv, "DocumentReference"))
	connectortest.Golden(t, "provenance.golden.json", connectortest.Sent(t, srv, "Provenance"))
}
