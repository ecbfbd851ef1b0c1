package athena

import (
	"strings"
	"testing"
)

func TestValidatePatientID(t *testing.T) {
	tests := []struct {
		id, why string // why is empty for a valid id
	}{
		{"1", ""},
		{"7681", ""},
		{"123456789", ""},
		{"", "required"},
		{"a-1.E-7681", "digits only"},
		{"12a", "digits only"},
		{" 7681", "digits only"},
		{"-7681", "digits only"},
		{"007681", "leading zero"},
		{"2123456701", "Medicare"},  // a valid Medicare number
		{"21234567011", "Medicare"}, // with its reference number
		{"1234567890", "at most 9 digits"},
		{"medicare:2123456701", "another system"},
		{"http://ns.electronichealth.net.au/id/medicare-number|2123456701", "another system"},
		{"ihi:8003608166690503", "another system"},
	}
	var c Connector
	for _, tt := range tests {
		err := c.ValidatePatientID(tt.id)
		switch {
		case tt.why == "" && err != nil:
			t.Errorf("ValidatePatientID(%q) = %v, want nil", tt.id, err)
		case tt.why != "" && (err == nil || !strings.Contains(err.Error(), tt.why)):
			t.Errorf("ValidatePatientID(%q) = %v, want an error saying %q", tt.id, err, tt.why)
		case err != nil && len(tt.id) > 3 && strings.Contains(err.Error(), strings.TrimSpace(tt.id)):
			t.Errorf("ValidatePatientID(%q) quotes the id: %v", tt.id, err)
		}
	}
}
