package bestpractice

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/hl7v2"
)

// auKitDocument is the kit's document with Australian identifiers, so the
// conformance run goes through IHI/HPI-I validation and references.
func auKitDocument(t *testing.T, i int) *connectors.Document {
	d := connectortest.Document(t, i)
	d.Patient = "ihi:8003608166690503"
	d.Author = "hpii:8003611566712356"
	d.Approver = "hpii:8003611566712356"
	d.Encounter = ""
	return d
}

func TestConformanceFHIR(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			site := newHaloSite(t)
			// Halo authenticates with a static subscription key: no tokens
			// to expire, so the kit skips that subtest.
			return openFHIR(t, site, testHaloKey), &connectortest.FHIRTarget{Server: site.fhir, NoteSystem: NoteSystem}
		},
		Document: auKitDocument,
	})
}

func TestConformanceHL7File(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			c, inbox := openHL7(t)
			return c, inboxTarget{inbox: inbox, ledger: c.hl7.ledger}
		},
		Document: auKitDocument,
	})
}

// inboxTarget inspects the inbox folder (and the ledger, standing in for
// messages Bp Premier has already imported) for the kit. A folder cannot
// be made to fail on cue, so fault subtests are skipped.
type inboxTarget struct{ inbox, ledger string }

func (it inboxTarget) Filed(t testing.TB, ident string) []connectortest.Filed {
	t.Helper()
	var out []connectortest.Filed
	name := fileName(ident)
	for _, dir := range []string{it.inbox} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := hl7v2.Parse(string(b))
		if err != nil {
			t.Fatalf("inbox message %s: %v", name, err)
		}
		if got := m.Field("MSH", 10); got != hl7v2.ControlID(ident) || len(got) > 20 {
			t.Errorf("MSH-10 = %q, want %q (20 characters at most)", got, hl7v2.ControlID(ident))
		}
		if got := hl7v2.Component(m.Field("OBR", 3), 1); got != ident {
			t.Errorf("OBR-3 = %q, want %q", got, ident)
		}
		f := connectortest.Filed{ID: filepath.Join(dir, name)}
		if len(m["OBX"]) >= 2 {
			f.Text = hl7v2.Unescape(m["OBX"][1][5])
		}
		if len(m["OBX"]) >= 3 {
			f.Declaration = hl7v2.Unescape(m["OBX"][2][5]) // the footer
		}
		if m.Field("OBR", 25) == "C" {
			f.Replaces = replacesFrom(hl7v2.Unescape(m["OBX"][2][5]))
		}
		out = append(out, f)
	}
	// Every delivered message is also in the ledger.
	if _, err := os.Stat(filepath.Join(it.ledger, name)); len(out) > 0 && err != nil {
		t.Errorf("delivered %s is not recorded in the ledger: %v", name, err)
	}
	return out
}

func replacesFrom(footer string) string {
	var id string
	for _, line := range splitLines(footer) {
		if _, err := fmt.Sscanf(line, "This version replaces %s", &id); err == nil {
			return id[:len(id)-1] // trailing full stop
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (inboxTarget) Inject(connectortest.Fault, string, int) bool { return false }
func (inboxTarget) ExpireTokens() bool                           { return false }
