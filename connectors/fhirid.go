package connectors

import "strings"

// ValidID reports whether s follows the FHIR id grammar
// ([A-Za-z0-9\-\.]{1,64}, FHIR R4 datatypes "id"): what may follow
// "Patient/" in a reference without changing what it points at. Ids that
// are not resource ids (an MRN sent as an identifier) may follow other
// rules; a connector checks those itself (ValidatePatientID). "." and ".."
// fit the grammar but name a path, not a resource, and are refused.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 || strings.Trim(s, ".") == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
