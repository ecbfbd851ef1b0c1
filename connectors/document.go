package connectors

import (
	"errors"
	"strings"
)

// IncompleteError is Document.Check's answer: what a document lacks.
type IncompleteError struct {
	Missing []string
}

func (e *IncompleteError) Error() string {
	return "document is missing " + strings.Join(e.Missing, ", ")
}

// Check reports what d lacks that every EHR needs to file it — note id,
// version, patient, approver, approval time, LOINC note type, text — as an
// *IncompleteError, so that every connector refuses an incomplete document
// the same way, permanently, before it builds or sends anything.
func (d *Document) Check() error {
	if d == nil {
		return errors.New("nil document")
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"note id", d.NoteID != ""},
		{"version", d.Version >= 1},
		{"patient", d.Patient != ""},
		{"approver", d.Approver != ""},
		{"approval time", !d.ApprovedAt.IsZero()},
		{"LOINC note type", d.LOINC != ""},
		{"text", strings.TrimSpace(d.Text) != ""},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return &IncompleteError{Missing: missing}
	}
	return nil
}
