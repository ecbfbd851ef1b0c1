package connectortest

import (
	"errors"
	"testing"
)

// PatientIDCase is one patient id and whether a connector's
// ValidatePatientID accepts it.
type PatientIDCase struct {
	ID string
	OK bool
}

// FHIRPatientIDs are cases for a connector whose patient ids are FHIR
// logical ids (connectors.CheckFHIRID): Epic, Oracle Health.
func FHIRPatientIDs() []PatientIDCase {
	return []PatientIDCase{
		{"12724066", true},
		{"eq081-VQEgP8drUUqCWzHfw3", true},
		{"", false},
		{"Patient/12724066", false},
		{"12724066 ", false},
		{"mrn|12724066", false},
	}
}

// AUPatientIDs are cases for an Australian practice system's connector,
// whose patient ids are read by auident.ParsePatient: an IHI or Medicare
// number (check digits verified) or the system's own id.
func AUPatientIDs() []PatientIDCase {
	return []PatientIDCase{
		{"ihi:8003608166690503", true},
		{"8003608166690503", true}, // a bare IHI
		{"8003 6081 6669 0503", true},
		{"medicare:2123456701", true},
		{"12345", true}, // the practice system's own id
		{"8003608166690504", false},
		{"ihi:8003608166690504", false},
		{"medicare:2123456711", false},
		{"8003611566712356", false}, // an HPI-I
		{"hpii:8003611566712356", false},
		{"Patient/12", false},
		{"", false},
	}
}

// CheckPatientIDs runs every case through v.ValidatePatientID; when want is
// not nil, each refusal must wrap it.
func CheckPatientIDs(t *testing.T, v interface{ ValidatePatientID(string) error }, cases []PatientIDCase, want error) {
	t.Helper()
	for _, tt := range cases {
		err := v.ValidatePatientID(tt.ID)
		if (err == nil) != tt.OK || (err != nil && want != nil && !errors.Is(err, want)) {
			t.Errorf("ValidatePatientID(%q) = %v, want ok=%v", tt.ID, err, tt.OK)
		}
	}
}
