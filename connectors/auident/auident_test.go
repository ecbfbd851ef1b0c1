package auident

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		kind  Kind
		value string
		ok    bool
	}{
		{IHI, "8003608166690503", true},  // AU Base example IHI
		{IHI, "8003608166690504", false}, // check digit off by one
		{IHI, "8003618166690503", false}, // HPI-I prefix
		{IHI, "800360816669050", false},  // 15 digits
		{IHI, "80036081666905O3", false}, // letter O
		{HPII, "8003611566712356", true},
		{HPII, "8003608166690503", false}, // an IHI is not an HPI-I
		{Medicare, "2123456701", true},
		{Medicare, "21234567011", true},
		{Medicare, "21234567010", false}, // IRN 0
		{Medicare, "2123456711", false},  // check digit
		{Medicare, "7123456701", false},  // first digit
		{Medicare, "212345670", false},
	}
	for _, tt := range tests {
		err := Validate(tt.kind, tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%s, %q) = %v, want ok=%v", tt.kind, tt.value, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%s, %q) error %v does not wrap ErrInvalid", tt.kind, tt.value, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		wantErr bool
	}{
		{"1234", Ref{Value: "1234"}, false},
		{"Patient/1234", Ref{Value: "Patient/1234"}, false},
		{"ihi:8003 6081 6669 0503", Ref{IHI, "8003608166690503"}, false},
		{"IHI:8003608166690503", Ref{IHI, "8003608166690503"}, false},
		{SystemIHI + "|8003608166690503", Ref{IHI, "8003608166690503"}, false},
		{"medicare:2123456701", Ref{Medicare, "2123456701"}, false},
		{"hpii:8003611566712356", Ref{HPII, "8003611566712356"}, false},
		{"ihi:8003608166690504", Ref{}, true},
		{"dva:NX123456", Ref{}, true},
		{"http://example.org/mrn|1", Ref{}, true},
		{"", Ref{}, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestParseErrorsKeepTypedTextOut: a parse error reaches the log and the
// note's push_error, so it names what was wrong without the text the
// clinician typed (which may be a name rather than an id).
func TestParseErrorsKeepTypedTextOut(t *testing.T) {
	for _, typed := range []string{"Jane Citizen:8003608166690503", "urn:jane-citizen|8003608166690503", "ihi:Jane Citizen"} {
		_, err := Parse(typed)
		if err == nil {
			t.Fatalf("%q parsed", typed)
		}
		if strings.Contains(strings.ToLower(err.Error()), "jane") || strings.Contains(err.Error(), "8003608166690503") {
			t.Errorf("%q: error %q shows what was typed", typed, err)
		}
	}
}

func TestParsePatient(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		wantErr bool
	}{
		{"ihi:8003608166690503", Ref{IHI, "8003608166690503"}, false},
		{"8003608166690503", Ref{IHI, "8003608166690503"}, false}, // a bare IHI is an IHI
		{"8003 6081 6669 0503", Ref{IHI, "8003608166690503"}, false},
		{SystemIHI + "|8003608166690503", Ref{IHI, "8003608166690503"}, false},
		{"medicare:2123456701", Ref{Medicare, "2123456701"}, false},
		{"12345", Ref{Value: "12345"}, false}, // an EHR's own id
		{"8003608166690504", Ref{}, true},     // bare IHI, wrong Luhn digit
		{"8003611566712356", Ref{}, true},     // bare HPI-I
		{"8003621566712354", Ref{}, true},     // bare HPI-O range
		{"hpii:8003611566712356", Ref{}, true},
		{"ihi:8003608166690504", Ref{}, true},
		{"medicare:2123456711", Ref{}, true},
		{"", Ref{}, true},
		{"12 34", Ref{}, true}, // not a FHIR id
		{"Patient/12", Ref{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePatient(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePatient(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePatient(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
		if err != nil && strings.Contains(err.Error(), tt.in) && tt.in != "" {
			t.Errorf("ParsePatient(%q) error quotes the id: %v", tt.in, err)
		}
	}
}
