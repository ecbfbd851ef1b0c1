package auident

// PatientSearchParam says how an Australian FHIR server (Halo Connect for
// Bp Premier, Gentu's partner API) is searched for the patient a
// clinician's lookup names: an IHI or a Medicare number (written as
// ParsePatient reads them, or bare and spaced as on the card) as
// identifier=system|value with the AU Base system, the practice system's
// own id as _id. ok is false for an identifier that cannot name a patient
// (a wrong check digit, a provider's number): nothing can match it.
// It is a fhirclient.IdentifierParam.
func PatientSearchParam(identifier string) (param, value string, ok bool) {
	if v := Normalize(identifier); allDigits(v) && ValidateMedicare(v) == nil {
		return "identifier", SystemMedicare + "|" + v, true
	}
	r, err := ParsePatient(identifier)
	if err != nil {
		return "", "", false
	}
	if r.Kind == "" {
		return "_id", r.Value, true
	}
	return "identifier", r.System() + "|" + r.Value, true
}
