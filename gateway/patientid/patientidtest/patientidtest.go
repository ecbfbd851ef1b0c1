// Package patientidtest is a connector's own patient-id rule for the tests
// of patientid.Check and of the gateway that applies it when a session
// opens.
package patientidtest

import (
	"errors"
	"strings"
)

// IHI is a connector whose patients are IHIs (a patientid.Validator):
// 16 digits, the check digit not checked.
type IHI struct{}

// ValidatePatientID refuses an id that is not 16 digits.
func (IHI) ValidatePatientID(id string) error {
	if len(id) != 16 || strings.Trim(id, "0123456789") != "" {
		return errors.New("an IHI is 16 digits")
	}
	return nil
}
