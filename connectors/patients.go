package connectors

// PatientQuery is a clinician's lookup of a patient in the EHR, when no
// launch named one: any of name (a prefix of a given or family name, or
// several words each matching one), birth date (YYYY-MM-DD) and an
// identifier (an MRN, or system|value). At least one is set.
type PatientQuery struct {
	Name       string
	BirthDate  string
	Identifier string
}

// PatientMatch is a patient as the EHR holds them: the id the connector
// files notes under, and what the clinician confirms them by.
type PatientMatch struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"`
	// Identifiers are the patient's other identifiers (MRNs), as
	// "value" or "system|value", to tell namesakes apart.
	Identifiers []string `json:"identifiers,omitempty"`
}
