package bestpractice

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
)

func TestValidatePatientID(t *testing.T) {
	c, _ := openHL7(t)
	connectortest.CheckPatientIDs(t, c, connectortest.AUPatientIDs(), auident.ErrInvalid)
}
