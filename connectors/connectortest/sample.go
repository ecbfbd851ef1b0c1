package connectortest

import (
	"time"

	"github.com/scribegate/scribegate/connectors"
)

// Sample is one fixed, fully filled document (note-7f3a version 2) for
// golden tests that pin the bytes a connector sends. A test that needs
// another patient or text edits the copy it is given; the conformance
// kit's Document is the one to use where ids must be unique per run.
func Sample() *connectors.Document {
	return &connectors.Document{
		NoteID: "note-7f3a", Version: 2, Clinic: "clinic-a",
		Patient: "pat-42", Encounter: "enc-7",
		PatientName: "Jane Citizen", PatientBirthDate: "1980-02-29", PatientSex: "female",
		Author: "prac-1", AuthorName: "Dr Alex Chen", Approver: "prac-1", ApproverName: "Dr Alex Chen",
		ApprovedAt: time.Date(2025, 3, 2, 3, 5, 0, 0, time.UTC),
		Template:   "soap", LOINC: "11506-3", LOINCDisplay: "Progress note", Title: "Follow-up",
		Text:    "S: Cough for 3 days.\nP: Review in 1 week.",
		Created: time.Date(2025, 3, 1, 23, 30, 0, 0, time.UTC),
		Drafter: "rules",
	}
}
