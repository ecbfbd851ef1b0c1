package auident

import "testing"

func TestPatientSearchParam(t *testing.T) {
	for _, tc := range []struct{ in, param, value string }{
		{"ihi:8003608166690503", "identifier", SystemIHI + "|8003608166690503"},
		{"8003 6081 6669 0503", "identifier", SystemIHI + "|8003608166690503"},
		{"2123 45670 1", "identifier", SystemMedicare + "|2123456701"},
		{"medicare:2123456701", "identifier", SystemMedicare + "|2123456701"},
		{"12345", "_id", "12345"},
		{"8003608166690504", "", ""},      // IHI check digit wrong
		{"hpii:8003611566712356", "", ""}, // a clinician's number
		{"Patient/12", "", ""},
	} {
		p, v, ok := PatientSearchParam(tc.in)
		if p != tc.param || v != tc.value || ok != (tc.param != "") {
			t.Errorf("PatientSearchParam(%q) = %q, %q, %v; want %q, %q", tc.in, p, v, ok, tc.param, tc.value)
		}
	}
}
