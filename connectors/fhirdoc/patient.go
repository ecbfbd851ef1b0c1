package fhirdoc

import (
	"strings"

	"github.com/scribegate/scribegate/connectors"
)

// PatientDisplay is the patient as staff match a document to a chart by
// hand: the name, then the birth date and sex where the recording gave
// them ("Jane Citizen (born 1980-02-29, female)"); empty without any.
// Connectors for EHRs that match on demographics put it in the subject
// reference's display: a Reference has nowhere else for them.
func PatientDisplay(d *connectors.Document) string {
	var extra []string
	if d.PatientBirthDate != "" {
		extra = append(extra, "born "+d.PatientBirthDate)
	}
	if d.PatientSex != "" {
		extra = append(extra, d.PatientSex)
	}
	if len(extra) == 0 {
		return d.PatientName
	}
	return strings.TrimSpace(d.PatientName + " (" + strings.Join(extra, ", ") + ")")
}
