package connectortest

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// update is the -update flag of every test binary that imports the kit:
// it makes Golden and GoldenFile rewrite the golden files, as golden-file
// packages do, so that each connector's tests need not declare it.
var update = flag.Bool("update", false, "rewrite golden files")

// Sent returns the body of the last create of resourceType that srv
// received, so a golden file holds exactly what a connector sent rather
// than what it might build. It fails the test if there was none.
func Sent(t testing.TB, srv *fhirtest.Server, resourceType string) []byte {
	t.Helper()
	var body []byte
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Path == resourceType {
			body = r.Body
		}
	}
	if body == nil {
		t.Fatalf("connectortest: no %s was sent", resourceType)
	}
	return body
}

// Golden checks that resource validates against the R4 schema and equals
// the golden file testdata/name (indented JSON); with -update it rewrites
// the file first.
func Golden(t testing.TB, name string, resource []byte) {
	t.Helper()
	if err := fhirtest.Schema(t).Validate(resource); err != nil {
		t.Fatalf("%s: not valid FHIR R4: %v", name, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, resource, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	GoldenFile(t, name, pretty.Bytes())
}

// GoldenFile checks that got equals the file testdata/name, byte for
// byte; with -update it writes got there first. It is for what a connector
// sends that is not FHIR (HL7 v2 messages, an EHR's own forms); Golden is
// the FHIR resources' check.
func GoldenFile(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("differs from %s (go test -update rewrites it); got:\n%s", path, bytes.ReplaceAll(got, []byte("\r"), []byte("\n")))
	}
}
