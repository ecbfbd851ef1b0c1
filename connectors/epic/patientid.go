package epic

import "github.com/scribegate/scribegate/connectors"

// ValidatePatientID applies the FHIR id grammar to the patient when a
// recording starts: the note's subject is Patient/{id}, which the EHR
// refuses at push time (after the clinician approved) if id is not a FHIR
// logical id.
func (c *Connector) ValidatePatientID(id string) error {
	return connectors.CheckFHIRID(id)
}
