package gentu

import (
	"errors"
	"testing"

	"github.com/scribegate/scribegate/connectors/auident"
)

func TestValidatePatientID(t *testing.T) {
	var c Connector
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"ihi:8003608166690503", true},
		{"8003608166690503", true}, // a bare IHI
		{"8003 6081 6669 0503", true},
		{"medicare:2123456701", true},
		{"12345", true}, // a Gentu id
		{"8003608166690504", false},
		{"ihi:8003608166690504", false},
		{"medicare:2123456711", false},
		{"8003611566712356", false}, // an HPI-I
		{"hpii:8003611566712356", false},
		{"Patient/12", false},
		{"", false},
	} {
		err := c.ValidatePatientID(tt.id)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, auident.ErrInvalid)) {
			t.Errorf("ValidatePatientID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
