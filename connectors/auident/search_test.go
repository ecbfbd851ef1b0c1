package auident

import (
	"errors"
	"strings"
	"testing"
)

func TestPatientSearchParam(t *testing.T) {
	for _, tc := range []struct{ in, param, value, problem string }{
		{"ihi:8003608166690503", "identifier", SystemIHI + "|8003608166690503", ""},
		{"8003 6081 6669 0503", "identifier", SystemIHI + "|8003608166690503", ""},
		{"8003608166690503", "identifier", SystemIHI + "|8003608166690503", ""},
		{"2123 45670 1", "identifier", SystemMedicare + "|2123456701", ""},
		{"2123456701", "identifier", SystemMedicare + "|2123456701", ""},
		{"medicare:2123456701", "identifier", SystemMedicare + "|2123456701", ""},
		{"12345", "_id", "12345", ""},
		{"1234567890", "_id", "1234567890", ""}, // begins with 1: no Medicare number
		{"8003608166690504", "", "", "check digit is wrong"},
		{"8003 6081 6669 0504", "", "", "check digit is wrong"},
		{"8003708166690503", "", "", "must start with 800360"},
		{"ihi:80036081666905", "", "", "16 digits"},
		{"2123456711", "", "", "Medicare number check digit is wrong"},
		{"2123 45671 1", "", "", "not an IHI (16 digits) or a Medicare number"},
		{"2123 4567", "", "", "not an IHI (16 digits) or a Medicare number"},
		{"medicare:212345670", "", "", "must be 10 digits"},
		{"hpii:8003611566712356", "", "", "provider identifier"},
		{"8003611566712356", "", "", "provider identifier"},
		{"Patient/12", "", "", "invalid"},
	} {
		p, v, err := PatientSearchParam(tc.in)
		if p != tc.param || v != tc.value {
			t.Errorf("PatientSearchParam(%q) = %q, %q, %v; want %q, %q", tc.in, p, v, err, tc.param, tc.value)
		}
		if tc.problem == "" {
			if err != nil {
				t.Errorf("PatientSearchParam(%q): %v", tc.in, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("PatientSearchParam(%q) error %v, want ErrInvalid saying %q", tc.in, err, tc.problem)
		}
	}
}
