package file_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/file"
)

// dirTarget inspects the folder: every *.DocumentReference.json file whose
// identifier matches counts, whatever its name.
type dirTarget struct{ dir string }

func (d dirTarget) Filed(t testing.TB, ident string) []connectortest.Filed {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(d.dir, "*.DocumentReference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []connectortest.Filed
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhirdoc.DecodeLenient(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if r.HasIdentifier(fhirdoc.DefaultNoteSystem, ident) {
			f := connectortest.DecodeDocumentReference(t, b)
			f.ID = p
			prov := strings.TrimSuffix(p, ".DocumentReference.json") + ".Provenance.json"
			if pb, err := os.ReadFile(prov); err == nil {
				f.Provenances = append(f.Provenances, pb)
			}
			out = append(out, f)
		}
	}
	return out
}

// A folder cannot lose a reply, throttle or hold tokens.
func (dirTarget) Inject(connectortest.Fault, string, int) bool { return false }
func (dirTarget) ExpireTokens() bool                           { return false }

func setup(t *testing.T) (connectors.Connector, connectortest.Target) {
	dir := filepath.Join(t.TempDir(), "outbox")
	c, err := connectors.Open(t.Context(), file.Kind, connectors.Config{
		Name: "local",
		Decode: func(v any) error {
			v.(*file.Settings).Dir = dir
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, dirTarget{dir}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{Setup: setup})
}

func TestFilesAndProvenance(t *testing.T) {
	dir := t.TempDir()
	c, err := file.New(file.Settings{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := connectortest.Document(t, 0)
	d.NoteID = "../../etc/passwd"
	rc, err := c.Push(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if rc.ExternalID != filepath.Base(rc.ExternalID) {
		t.Errorf("receipt names %q: a server path, not the document's name", rc.ExternalID)
	}
	if _, err := os.Stat(filepath.Join(dir, rc.ExternalID)); err != nil {
		t.Errorf("the receipt's document is not in %s: %v", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("folder holds %v, want a DocumentReference and a Provenance and no temporary files", names)
	}
	v := fhirtest.Schema(t)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(b); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		var r struct{ ResourceType string }
		json.Unmarshal(b, &r)
		if !strings.HasSuffix(n, "."+r.ResourceType+".json") {
			t.Errorf("%s holds a %s", n, r.ResourceType)
		}
	}
}

func TestSettings(t *testing.T) {
	if _, err := file.New(file.Settings{}, nil); err == nil {
		t.Error("New without dir succeeded")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.New(file.Settings{Dir: filepath.Join(blocker, "sub")}, nil); err == nil {
		t.Error("New with an unusable dir succeeded")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	c, err := file.New(file.Settings{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var _ connectors.Checker = c
	if r := c.Check(t.Context()); len(r) != 1 || !r[0].OK {
		t.Errorf("Check = %+v", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Check left %d files", len(entries))
	}
}
