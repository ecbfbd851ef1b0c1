package fhirdoc

import (
	"testing"

	"github.com/scribegate/scribegate/connectors"
)

func TestPatientDisplay(t *testing.T) {
	for _, tt := range []struct {
		d    connectors.Document
		want string
	}{
		{connectors.Document{}, ""},
		{connectors.Document{PatientName: "Jane Citizen"}, "Jane Citizen"},
		{connectors.Document{PatientName: "Jane Citizen", PatientBirthDate: "1980-02-29", PatientSex: "female"}, "Jane Citizen (born 1980-02-29, female)"},
		{connectors.Document{PatientBirthDate: "1980-02-29"}, "(born 1980-02-29)"},
	} {
		if got := PatientDisplay(&tt.d); got != tt.want {
			t.Errorf("PatientDisplay(%+v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
