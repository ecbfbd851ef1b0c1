package patientid

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/patientid/patientidtest"
)

func TestCheck(t *testing.T) {
	visit := Patterns{Encounter: regexp.MustCompile(`^V[0-9]{4}/[0-9]{2}$`)}
	anything := Patterns{Patient: regexp.MustCompile(`.*`)}
	cases := []struct {
		name               string
		pats               Patterns
		own                Validator
		patient, encounter string
		param              string // "": accepted
	}{
		{"FHIR id", Patterns{}, nil, "pat-1.2", "", ""},
		{"underscore", Patterns{}, nil, "p_1", "", "patient"},
		{"65 bytes", Patterns{}, nil, strings.Repeat("a", 65), "", "patient"},
		{"path", Patterns{}, nil, "123&x/../Observation/1", "", "patient"},
		{"encounter by pattern", visit, nil, "p1", "V2024/07", ""},
		{"encounter off pattern", visit, nil, "p1", "E1", "encounter"},
		{"pattern lets no line break through", anything, nil, "p1\r\nX-Injected: 1", "", "patient"},
		{"pattern lets no RTL override through", anything, nil, "p\u202e1", "", "patient"},
		{"connector's own rule", Patterns{}, patientidtest.IHI{}, "8003608166690503", "", ""},
		{"refused by the connector's rule", Patterns{}, patientidtest.IHI{}, "12345", "", "patient"},
		{"RTL under the connector's rule", Patterns{}, patientidtest.IHI{}, "8003608166690503\u202e", "", "patient"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.pats, tc.own, tc.patient, tc.encounter)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *apierror.Error
			if !errors.As(err, &ae) || ae.Code != apierror.CodeInvalidParameter || ae.Param != tc.param {
				t.Fatalf("got %v, want invalid_parameter on %s", err, tc.param)
			}
			if strings.Contains(ae.Message, "Observation") || strings.Contains(ae.Message, "Injected") {
				t.Errorf("the error echoes the id: %s", ae.Message)
			}
		})
	}
}
