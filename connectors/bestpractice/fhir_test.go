package bestpractice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// haloSite is a stand-in for one Bp Premier site on Halo Cloud: the FHIR
// API under /integrator/sites/{halo-guid}/fhir/R4, refusing any request
// without the integrator's subscription key header, as Azure API
// Management does (401 with a JSON message, not an OperationOutcome).
type haloSite struct {
	fhir *fhirtest.Server
	base string
}

const (
	testHaloGUID = "63255e8a-0000-4000-8000-000000000000"
	testHaloKey  = "test-only-subscription-key"
)

func newHaloSite(t *testing.T) *haloSite {
	t.Helper()
	f := fhirtest.NewServer(t)
	prefix := "/integrator/sites/" + testHaloGUID + "/fhir/R4"
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, fhirtest.StrictPatientSearch(f, haloPatientParams...)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(DefaultSubscriptionKeyHeader) != testHaloKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`))
			return
		}
		mux.ServeHTTP(w, r)
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	f.URL = ts.URL + prefix
	return &haloSite{fhir: f, base: ts.URL + prefix}
}

func openFHIR(t *testing.T, site *haloSite, key string) *Connector {
	t.Helper()
	file := filepath.Join(t.TempDir(), "halo-key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), connectors.Config{Name: "bp-halo"}, Settings{
		Transport: TransportFHIR, BaseURL: site.base, SubscriptionKeyFile: file,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFHIRGolden(t *testing.T) {
	c := openFHIR(t, newHaloSite(t), testHaloKey)
	d := auDocument()
	patient, author, err := refs(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _, err := c.fhir.build(d, patient, author)
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Golden(t, "documentreference.golden.json", got)
}

func TestFHIRPush(t *testing.T) {
	site := newHaloSite(t)
	c := openFHIR(t, site, testHaloKey)
	ctx := context.Background()

	site.fhir.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Drop: true}, 1)
	if _, err := c.Push(ctx, auDocument()); err == nil || connectors.IsPermanent(err) {
		t.Fatalf("lost reply: %v, want transient", err)
	}
	r, err := c.Push(ctx, auDocument())
	if err != nil || !r.Duplicate || r.ExternalID == "" {
		t.Fatalf("retry = %+v, %v; want the earlier document", r, err)
	}
	if n := len(site.fhir.Resources("DocumentReference")); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
	for _, req := range site.fhir.Requests() {
		if req.Header.Get(DefaultSubscriptionKeyHeader) != testHaloKey {
			t.Errorf("%s %s without the subscription key", req.Method, req.Path)
		}
	}

	bad := auDocument()
	bad.Patient = "medicare:2123456711"
	if _, err := c.Push(ctx, bad); !connectors.IsPermanent(err) || !errors.Is(err, auident.ErrInvalid) {
		t.Errorf("bad Medicare number: %v, want permanent", err)
	}

	if res := c.Check(ctx); len(res) != 2 || !res[0].OK || !res[1].OK {
		t.Errorf("Check = %+v", res)
	}
	wrong := openFHIR(t, site, "wrong-key")
	_, err = wrong.Push(ctx, auDocument())
	var pe *connectors.PushError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized || pe.Permanent {
		t.Errorf("wrong key: %v, want a transient 401 PushError (configuration, not the note)", err)
	}
	if res := wrong.Check(ctx); len(res) == 0 || res[0].OK {
		t.Errorf("Check with wrong key = %+v, want failing", res)
	}
}

// TestFHIRProvenanceGolden keeps exactly the Provenance the Halo transport
// sends beside the document: the AI device as author, the approving
// clinician (by HPI-I) as verifier.
func TestFHIRProvenanceGolden(t *testing.T) {
	site := newHaloSite(t)
	c := openFHIR(t, site, testHaloKey)
	if _, err := c.Push(context.Background(), auDocument()); err != nil {
		t.Fatal(err)
	}
	connectortest.Golden(t, "provenance.golden.json", connectortest.Sent(t, site.fhir, "Provenance"))
}
