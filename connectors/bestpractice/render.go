package bestpractice

import (
	"fmt"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// Australian date conventions for what a GP reads: day first, month in
// words where there is room ("2 March 2025"), dd/mm/yyyy in compact places,
// 12-hour clock with am/pm.
const (
	auLongDate  = "2 January 2006"
	auShortDate = "02/01/2006"
	auTime      = "3:04 pm"
)

// renderParts is the note as it appears in the clinician's Bp Premier
// inbox, in three parts sent as consecutive OBX segments: a short
// letter-style heading (what, for whom, when, by whom), the note exactly as
// approved, and a footer declaring the AI assistance and who approved it.
// The approved text itself is never altered.
func renderParts(d *connectors.Document, patient auident.Ref, loc *time.Location) (heading, body, footer string) {
	var b strings.Builder
	title := d.Title
	if title == "" {
		title = d.LOINCDisplay
	}
	if title == "" {
		title = "Clinical note"
	}
	b.WriteString(title + "\n")
	fmt.Fprintf(&b, "Patient: %s\n", patientLine(d, patient))
	created := d.Created
	if created.IsZero() {
		created = d.ApprovedAt
	}
	fmt.Fprintf(&b, "Date of consultation: %s\n", created.In(loc).Format(auLongDate))
	if d.AuthorName != "" {
		fmt.Fprintf(&b, "Clinician: %s\n", d.AuthorName)
	}
	heading = b.String()
	b.Reset()
	approver := d.ApproverName
	if approver == "" {
		approver = d.Approver
	}
	at := d.ApprovedAt.In(loc)
	fmt.Fprintf(&b, "Approved by %s on %s at %s.\n", approver, at.Format(auShortDate), at.Format(auTime))
	drafter := d.Drafter
	if drafter == "" {
		drafter = "scribegate"
	}
	fmt.Fprintf(&b, "Drafted with AI assistance (%s) and reviewed by the approving clinician.\n", drafter)
	if d.Replaces != "" {
		fmt.Fprintf(&b, "This version replaces %s.\n", d.Replaces)
	}
	return heading, d.Text, b.String()
}

// patientLine names the patient as a letter does: name and birth date
// where the recording gave them, then the identifier.
func patientLine(d *connectors.Document, r auident.Ref) string {
	var parts []string
	if d.PatientName != "" {
		parts = append(parts, d.PatientName)
	}
	if t, err := time.Parse(time.DateOnly, d.PatientBirthDate); err == nil {
		parts = append(parts, "born "+t.Format(auShortDate))
	}
	return strings.Join(append(parts, patientLabel(r)), ", ")
}

func patientLabel(r auident.Ref) string {
	switch r.Kind {
	case auident.IHI:
		return "IHI " + group4(r.Value)
	case auident.Medicare:
		return "Medicare " + r.Value
	}
	return "Bp Premier patient " + r.Value
}

// group4 writes a 16-digit healthcare identifier as it is printed on
// cards and letters: "8003 6081 6669 0503".
func group4(s string) string {
	var parts []string
	for len(s) > 4 {
		parts = append(parts, s[:4])
		s = s[4:]
	}
	return strings.Join(append(parts, s), " ")
}
