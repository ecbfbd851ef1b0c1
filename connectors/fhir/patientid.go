package fhir

import (
	"errors"
	"strings"
	"unicode"

	"github.com/scribegate/scribegate/connectors"
)

// ValidatePatientID applies the server's patient-id rule when a recording
// starts. With patient_system set the patient is an identifier value (an
// MRN, say): any non-blank text without control characters or the "|"
// that FHIR token searches split on. Otherwise the subject is
// Patient/{id} and id must be a FHIR logical id.
func (c *Connector) ValidatePatientID(id string) error {
	if c.profile.PatientSystem == "" {
		return connectors.CheckFHIRID(id)
	}
	if strings.TrimSpace(id) != id || id == "" || len(id) > 256 || strings.ContainsFunc(id, unicode.IsControl) || strings.Contains(id, "|") {
		return errors.New("a patient identifier value is 1 to 256 characters, with no surrounding spaces, control characters or '|'")
	}
	return nil
}
