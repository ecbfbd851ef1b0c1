package epic

import "testing"

func TestValidatePatientID(t *testing.T) {
	var c Connector
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"12724066", true},
		{"eq081-VQEgP8drUUqCWzHfw3", true},
		{"", false},
		{"Patient/12724066", false},
		{"12724066 ", false},
		{"mrn|12724066", false},
	} {
		if err := c.ValidatePatientID(tt.id); (err == nil) != tt.ok {
			t.Errorf("ValidatePatientID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
