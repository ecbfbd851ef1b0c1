package connectors

import (
	"strings"
	"testing"
)

func TestCheckFHIRID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"12724066", true},
		{"eq081-VQEgP8drUUqCWzHfw3", true},
		{"a-1.E-100", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"Patient/123", false},
		{"12 34", false},
		{"abc_def", false},
		{"ihi:8003608166690503", false},
		{"é", false},
	} {
		if err := CheckFHIRID(tc.id); (err == nil) != tc.ok {
			t.Errorf("CheckFHIRID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}
