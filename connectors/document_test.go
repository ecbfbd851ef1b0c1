package connectors_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

// TestDocumentCheck: every connector refuses an incomplete document through
// Document.Check, which names each missing part.
func TestDocumentCheck(t *testing.T) {
	full := connectors.Document{NoteID: "n1", Version: 1, Patient: "p1", Approver: "dr-a",
		ApprovedAt: time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC), LOINC: "11506-3", Text: "Plan:\nRest.\n"}
	if err := full.Check(); err != nil {
		t.Fatalf("complete document: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*connectors.Document)
		want []string
	}{
		{func(d *connectors.Document) { d.NoteID = "" }, []string{"note id"}},
		{func(d *connectors.Document) { d.Version = 0 }, []string{"version"}},
		{func(d *connectors.Document) { d.Approver, d.ApprovedAt = "", time.Time{} }, []string{"approver", "approval time"}},
		{func(d *connectors.Document) { d.Text = " \n" }, []string{"text"}},
		{func(d *connectors.Document) { d.Patient, d.LOINC = "", "" }, []string{"patient", "LOINC note type"}},
	} {
		d := full
		tc.mod(&d)
		var ie *connectors.IncompleteError
		if err := d.Check(); !errors.As(err, &ie) || !slices.Equal(ie.Missing, tc.want) {
			t.Errorf("Check() = %v, want missing %v", err, tc.want)
		}
	}
	if err := (*connectors.Document)(nil).Check(); err == nil {
		t.Error("nil document passed")
	}
}
