package fhir

import (
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

func TestValidatePatientID(t *testing.T) {
	byID := &Connector{}
	byMRN := &Connector{profile: fhirdoc.Profile{PatientSystem: "urn:oid:1.2.36.1.2001.1003.0.1"}}
	for _, tt := range []struct {
		name   string
		c      *Connector
		id     string
		wantOK bool
	}{
		{"logical id", byID, "pat-42", true},
		{"logical id with a slash", byID, "Patient/pat-42", false},
		{"logical id with a space", byID, "MRN 42", false},
		{"logical id too long", byID, strings.Repeat("1", 65), false},
		{"MRN with a space", byMRN, "MRN 42", true},
		{"MRN with a slash", byMRN, "42/7", true},
		{"MRN blank", byMRN, "", false},
		{"MRN padded", byMRN, " 42", false},
		{"MRN with a bar", byMRN, "sys|42", false},
		{"MRN with a newline", byMRN, "42\n", false},
	} {
		if err := tt.c.ValidatePatientID(tt.id); (err == nil) != tt.wantOK {
			t.Errorf("%s: ValidatePatientID(%q) = %v, want ok=%v", tt.name, tt.id, err, tt.wantOK)
		}
	}
}
